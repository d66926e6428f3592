defmodule Shop.Orders.Order do
  @moduledoc "An order."
  defstruct [:customer, items: [], total: 0, status: :new]
end
