defmodule ShopWeb.CartController do
  @moduledoc "Cart and checkout."

  import ShopWeb.Response

  def create(conn, %{"customer" => customer, "sku" => sku} = params) do
    quantity = params |> Map.get("quantity", "1") |> String.to_integer()

    case Shop.add_to_cart(customer, sku, quantity) do
      {:ok, total} -> json(conn, %{total: total})
      {:error, reason} -> send(conn, 422, inspect(reason))
    end
  end

  def checkout(conn, %{"customer" => customer, "method" => method}) do
    method = if method == "invoice", do: :invoice, else: :card

    with {:ok, order} <- Shop.checkout(customer, method) do
      json(conn, order)
    else
      {:error, reason} -> send(conn, 402, inspect(reason))
    end
  end
end
