defmodule Shop.Payment do
  @moduledoc "The payment behaviour and dispatch to a method."

  @callback charge(order :: map()) :: {:ok, String.t()} | {:error, term()}
  @callback refund(receipt :: String.t()) :: :ok | {:error, term()}

  @methods %{card: Shop.Payment.Card, invoice: Shop.Payment.Invoice}

  def charge(method, order) do
    case Map.fetch(@methods, method) do
      {:ok, module} -> module.charge(order)
      :error -> {:error, {:unknown_method, method}}
    end
  end
end
