defmodule Shop.Util.Format do
  @moduledoc "Formatting helpers, imported where needed."

  def money(cents) when is_integer(cents) do
    euros = div(cents, 100)
    rest = cents |> rem(100) |> Integer.to_string() |> String.pad_leading(2, "0")
    "#{euros}.#{rest} EUR"
  end

  def percent(ratio), do: "#{Float.round(ratio * 100, 1)}%"

  def squish(text), do: text |> String.trim() |> String.replace(~r/\s+/, "_")

  @doc "A label atom: callers must pass trusted text."
  def label(text), do: String.to_atom(text)
end
