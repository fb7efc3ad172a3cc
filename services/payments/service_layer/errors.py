"""Expected failures of payments' use cases, with the codes and messages the internal API
documents; the HTTP entry point gives each its status. Fields the payer must correct are
the domain's `InvalidInput` (domain/methods.py)."""
from __future__ import annotations

from shared.errors import DomainError


class UnknownAccount(DomainError):
    code = "unknown_account"
    message = ("We have no billing account with this number yet. If it was opened today, "
               "please try again in a few minutes.")


class UnknownPayment(DomainError):
    code = "not_found"
    message = "No payment with this id."


class IdempotencyConflict(DomainError):
    code = "idempotency_conflict"
    message = "This idempotency key was already used for a different request."


class AmountChanged(DomainError):
    """The total moved since the payer reviewed it: nothing is charged."""

    code = "amount_changed"
    message = ("The total you owe changed since you reviewed your payment. "
               "Please review the new amount.")

    def __init__(self, current_amount_cents: int) -> None:
        super().__init__(current_amount_cents=current_amount_cents)


class CardsUnavailable(DomainError):
    """The card processor does not answer; nothing was charged."""

    code = "processor_unavailable"
    message = "Card payments are not available right now. Please try again shortly."


class AutopayExists(DomainError):
    code = "autopay_exists"
    message = ("This account already has a recurring payment. "
               "Cancel it first to set up a new one.")


class NoAutopay(DomainError):
    code = "no_autopay"
    message = "This account has no recurring payment."


class NoMethod(DomainError):
    code = "no_method"
    message = "This account has no such saved payment method."


class NoValidation(DomainError):
    """No micro-entry amounts to confirm for this account (none sent, not arrived yet,
    already confirmed or failed)."""

    code = "no_validation"
    message = "There are no amounts to confirm for this bank account."


class MethodInUse(DomainError):
    """The bank account the active recurring payment draws from."""

    code = "method_in_use"
    message = ("Your automatic payments are drawn from this account, so it cannot be removed. "
               "Change your automatic payments to another account or cancel them first.")


class UnknownRefund(DomainError):
    code = "not_found"
    message = "No refund with this id."


class RefundOverCredit(DomainError):
    """A refund is never more than the account's credit (less the refunds on their way)."""

    code = "refund_over_credit"
    message = "The refund is more than the credit on this account."

    def __init__(self, available_cents: int) -> None:
        super().__init__(available_cents=available_cents)


class NoRefundMethod(DomainError):
    code = "no_refund_method"
    message = ("No bank account or card paid this account, so the credit cannot be sent back "
               "electronically. Please call us.")


class RefundNotPending(DomainError):
    code = "refund_not_pending"
    message = "This refund is not waiting for approval."
