defmodule Shop do
  @moduledoc "A small shop: catalog, carts, pricing, orders and payments."

  alias Shop.{Cart, Orders}

  @doc "Adds a product to a customer's cart and returns the cart total."
  def add_to_cart(customer_id, sku, quantity \\ 1) do
    with {:ok, product} <- Shop.Catalog.fetch(sku),
         :ok <- Cart.add(customer_id, product, quantity) do
      {:ok, Cart.total(customer_id)}
    end
  end

  def checkout(customer_id, payment_method) do
    customer_id
    |> Cart.items()
    |> Orders.place(customer_id, payment_method)
  end
end
