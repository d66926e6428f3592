defmodule Shop.Inventory do
  @moduledoc "Stock levels, kept in an Agent."
  use Agent

  def start_link(_opts) do
    Agent.start_link(fn -> %{"tea" => 100, "mug" => 10, "pot" => 2} end, name: __MODULE__)
  end

  def stock(sku), do: Agent.get(__MODULE__, &Map.get(&1, sku, 0))

  def reserve(sku, quantity) when quantity > 0 do
    Agent.get_and_update(__MODULE__, fn stock ->
      available = Map.get(stock, sku, 0)

      cond do
        available >= quantity -> {true, Map.put(stock, sku, available - quantity)}
        true -> {false, stock}
      end
    end)
  end

  def release(sku, quantity) do
    Agent.update(__MODULE__, &Map.update(&1, sku, quantity, fn n -> n + quantity end))
  end
end
