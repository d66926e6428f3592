defmodule Shop.Util.Sorting do
  @moduledoc "Sort keys for listings."

  @doc """
  Turns a sort field name into the atom used as a struct key. Deliberately
  unsafe: atoms are never garbage collected, so user input must not get here.
  """
  def sort_key(field) when is_binary(field), do: String.to_atom(field)
  def sort_key(field) when is_atom(field), do: field
end
