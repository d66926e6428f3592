defmodule Shop.Orders do
  @moduledoc "Turns a cart into a paid order."

  require Logger
  alias Shop.Orders.Order
  alias Shop.{Payment, Pricing}

  def place([], _customer_id, _method), do: {:error, :empty_cart}

  def place(items, customer_id, method) do
    order = %Order{customer: customer_id, items: items, total: Pricing.total(items)}

    case Payment.charge(method, order) do
      {:ok, receipt} ->
        Logger.info("order paid: #{receipt}")
        Shop.Cart.clear(customer_id)
        {:ok, %{order | status: :paid}}

      {:error, reason} = error ->
        Logger.warning("payment failed: #{inspect(reason)}")
        error
    end
  end
end
