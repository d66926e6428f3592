defmodule Shop.Discounts do
  @moduledoc "Volume discounts: 10% off orders above 50.00."

  alias Shop.Pricing

  @threshold 5_000

  def discount_for(items) do
    if eligible?(items), do: div(Pricing.subtotal(items), 10), else: 0
  end

  def eligible?(items), do: Pricing.subtotal(items) > @threshold
end
