defmodule Shop.Application do
  @moduledoc false
  use Application

  @impl true
  def start(_type, _args) do
    children = [
      Shop.Inventory,
      {Shop.Exporter, "/tmp/shop-reports"},
      {Registry, keys: :unique, name: Shop.CartRegistry}
    ]

    Supervisor.start_link(children, strategy: :one_for_one, name: Shop.Supervisor)
  end
end
