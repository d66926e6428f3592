defmodule ShopWeb.Response do
  @moduledoc "A tiny response helper standing in for Plug."

  def send(conn, status, body), do: Map.merge(conn, %{status: status, resp_body: body})

  def json(conn, data), do: send(conn, 200, inspect(data))
end
