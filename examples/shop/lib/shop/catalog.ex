defmodule Shop.Catalog do
  @moduledoc "Products and how to list them."

  alias Shop.Catalog.Product
  alias Shop.Util.Sorting
  import Shop.Util.Format, only: [money: 1]

  @products [
    %Product{sku: "tea", name: "Green tea", price: 450, category: :drinks},
    %Product{sku: "mug", name: "Mug", price: 1200, category: :kitchen},
    %Product{sku: "pot", name: "Tea pot", price: 3500, category: :kitchen}
  ]

  def all, do: @products

  def fetch(sku) do
    case Enum.find(@products, &(&1.sku == sku)) do
      nil -> {:error, :not_found}
      product -> {:ok, product}
    end
  end

  @doc "Lists products sorted by the field named in `opts[:sort]`."
  def list_products(opts \\ []) do
    key = opts |> Keyword.get(:sort, "name") |> Sorting.sort_key()

    all()
    |> Enum.sort_by(&Map.fetch!(&1, key))
    |> Enum.map(&describe/1)
  end

  defp describe(%Product{name: name, price: price}), do: "#{name} (#{money(price)})"
end
