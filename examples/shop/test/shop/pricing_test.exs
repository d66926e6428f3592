defmodule Shop.PricingTest do
  use ExUnit.Case, async: true

  alias Shop.Cart.LineItem
  alias Shop.Catalog.Product
  alias Shop.Pricing

  defp item(price, quantity) do
    %LineItem{product: %Product{sku: "x", name: "x", price: price}, quantity: quantity}
  end

  test "subtotal sums line items" do
    assert Pricing.subtotal([item(100, 2), item(50, 1)]) == 250
  end

  test "large orders get a discount before tax" do
    assert Pricing.total([item(6_000, 1)]) == round((6_000 - 600) * 1.2)
  end
end
