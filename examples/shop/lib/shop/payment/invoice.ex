defmodule Shop.Payment.Invoice do
  @moduledoc "Pay later by invoice."
  @behaviour Shop.Payment

  import Shop.Util.Format

  @impl true
  def charge(order) do
    {:ok, "invoice for " <> money(order.total)}
  end

  @impl true
  def refund(_receipt), do: {:error, :invoices_are_cancelled_not_refunded}
end
