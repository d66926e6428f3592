defmodule Shop.Payment.Card do
  @moduledoc "Card payments (simulated)."
  @behaviour Shop.Payment

  @impl true
  def charge(%{total: total}) when total > 0, do: {:ok, "card-" <> Integer.to_string(total)}
  def charge(_order), do: {:error, :nothing_to_charge}

  @impl true
  def refund("card-" <> _), do: :ok
  def refund(_), do: {:error, :not_a_card_receipt}
end
