defmodule ShopWeb.ProductController do
  @moduledoc "Product pages."

  alias Shop.Catalog
  import ShopWeb.Response, only: [json: 2, send: 3]

  # The `sort` request parameter reaches String.to_atom/1 through
  # Catalog.list_products/1 and Shop.Util.Sorting.sort_key/1.
  def index(conn, params) do
    products = Catalog.list_products(sort: params["sort"] || "name")
    json(conn, products)
  end

  def show(conn, %{"sku" => sku}) do
    case Catalog.fetch(sku) do
      {:ok, product} -> json(conn, product)
      {:error, :not_found} -> send(conn, 404, "no such product")
    end
  end
end
