defmodule Shop.Cart do
  @moduledoc "One cart per customer, each a GenServer registered by customer id."
  use GenServer

  alias Shop.Cart.LineItem
  alias Shop.Pricing

  # Client

  def start_link(customer_id) do
    GenServer.start_link(__MODULE__, customer_id, name: via(customer_id))
  end

  def add(customer_id, product, quantity) do
    ensure_started(customer_id)
    GenServer.call(via(customer_id), {:add, product, quantity})
  end

  def items(customer_id), do: GenServer.call(via(customer_id), :items)

  def total(customer_id) do
    customer_id |> items() |> Pricing.total()
  end

  def clear(customer_id), do: GenServer.cast(via(customer_id), :clear)

  defp via(customer_id), do: {:via, Registry, {Shop.CartRegistry, customer_id}}

  defp ensure_started(customer_id) do
    case Registry.lookup(Shop.CartRegistry, customer_id) do
      [] -> {:ok, _} = start_link(customer_id)
      [_ | _] -> :ok
    end
  end

  # Server

  @impl true
  def init(customer_id), do: {:ok, %{customer: customer_id, items: []}}

  @impl true
  def handle_call({:add, product, quantity}, _from, state) do
    if Shop.Inventory.reserve(product.sku, quantity) do
      item = %LineItem{product: product, quantity: quantity}
      {:reply, :ok, %{state | items: [item | state.items]}}
    else
      {:reply, {:error, :out_of_stock}, state}
    end
  end

  def handle_call(:items, _from, state), do: {:reply, Enum.reverse(state.items), state}

  @impl true
  def handle_cast(:clear, state), do: {:noreply, %{state | items: []}}
end
