defmodule Shop.Pricing do
  @moduledoc "Totals with discounts and tax. Pricing and Discounts call each other."

  alias Shop.{Discounts, Priceable}

  @tax_rate 0.2

  def subtotal(items), do: items |> Enum.map(&Priceable.price/1) |> Enum.sum()

  def total(items) do
    sub = subtotal(items)
    discounted = sub - Discounts.discount_for(items)
    round(discounted * (1 + @tax_rate))
  end
end
