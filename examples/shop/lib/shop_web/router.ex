defmodule ShopWeb.Router do
  @moduledoc "Maps request paths to controller actions."

  alias ShopWeb.{CartController, ProductController, ReportController}

  def call(conn, params) do
    case {conn.method, conn.path} do
      {"GET", "/products"} -> ProductController.index(conn, params)
      {"GET", "/products/" <> sku} -> ProductController.show(conn, Map.put(params, "sku", sku))
      {"POST", "/cart"} -> CartController.create(conn, params)
      {"POST", "/checkout"} -> CartController.checkout(conn, params)
      {"GET", "/reports"} -> ReportController.index(conn, params)
      {"POST", "/reports"} -> ReportController.export(conn, params)
      _ -> ShopWeb.Response.send(conn, 404, "not found")
    end
  end
end
