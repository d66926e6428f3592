defmodule Shop.Cart.LineItem do
  @moduledoc "A product and how many of it."
  defstruct [:product, quantity: 1]
end
