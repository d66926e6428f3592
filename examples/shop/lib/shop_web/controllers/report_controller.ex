defmodule ShopWeb.ReportController do
  @moduledoc "Order reports."

  alias Shop.Util.Format
  import ShopWeb.Response, only: [json: 2]

  # The `name` request parameter reaches File.write/2 and System.cmd/2 in
  # Shop.Exporter's server process, through GenServer.call/2.
  def export(conn, %{"name" => name}) do
    json(conn, Shop.Exporter.export(Format.squish(name)))
  end

  # No flow: the page goes through String.to_integer/1 (a sanitizer), and
  # Format.squish/1 returning its (tainted) argument above does not taint
  # its result here.
  def index(conn, params) do
    page = params |> Map.get("page", "1") |> String.to_integer()
    json(conn, Format.label(Format.squish("page #{page}")))
  end
end
