defmodule Shop.Exporter do
  @moduledoc "Writes order reports to files, one at a time."
  use GenServer

  def start_link(dir), do: GenServer.start_link(__MODULE__, dir, name: __MODULE__)

  @doc "Exports the report under the given file name, as is."
  def export(name), do: GenServer.call(__MODULE__, {:export, name})

  @impl true
  def init(dir), do: {:ok, dir}

  # Planted: `name` comes from a request (ShopWeb.ReportController.export/2)
  # and is used as a path, then as a command argument.
  @impl true
  def handle_call({:export, name}, _from, dir) do
    path = Path.join(dir, name)
    :ok = File.write(path, "orders\n")
    {:reply, compress(path), dir}
  end

  # Planted: the command itself comes from the environment.
  defp compress(path), do: System.cmd(compressor(), [path])

  defp compressor, do: System.get_env("SHOP_COMPRESS") || "gzip"
end
