defprotocol Shop.Priceable do
  @moduledoc "Anything with a price in cents."
  @spec price(t) :: non_neg_integer()
  def price(item)
end

defimpl Shop.Priceable, for: Shop.Catalog.Product do
  def price(%{price: price}), do: price
end

defimpl Shop.Priceable, for: Shop.Cart.LineItem do
  def price(%{product: product, quantity: quantity}) do
    Shop.Priceable.price(product) * quantity
  end
end
