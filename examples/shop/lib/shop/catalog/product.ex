defmodule Shop.Catalog.Product do
  @moduledoc "A product on sale."
  @enforce_keys [:sku, :name, :price]
  defstruct [:sku, :name, :price, category: :misc]

  @type t :: %__MODULE__{sku: String.t(), name: String.t(), price: non_neg_integer()}
end
