"""`payments.v1`: what the payments service publishes (docs/events.md). Keyed by billing
account number. Methods appear as {type, last4, brand?} only: never a full number."""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from shared.contracts.base import Payload, is_none

PAYMENT_SUBMITTED = "payment.submitted"
PAYMENT_SETTLED = "payment.settled"
PAYMENT_FAILED = "payment.failed"
PAYMENT_RETURNED = "payment.returned"
AUTOPAY_CREATED = "autopay.created"
AUTOPAY_CANCELLED = "autopay.cancelled"
AUTOPAY_UPDATED = "autopay.updated"
METHOD_UPDATED = "method.updated"


class Method(Payload):
    type: Literal["checking", "savings", "card"]
    last4: str = Field(pattern=r"^[0-9]{4}$")
    brand: str | None = Field(default=None, exclude_if=is_none)  # cards only


class Contact(Payload):
    email: str | None = None
    phone: str | None = None
    language: str = "en"


class Allocation(Payload):
    coverage_year: int
    amount_cents: int = Field(gt=0)


class PaymentSubmittedData(Payload):
    EVENT_TYPE: ClassVar[str] = PAYMENT_SUBMITTED
    payment_id: str
    confirmation_number: str
    billing_account_number: str
    plan_type: str
    kind: Literal["one_time", "recurring"]
    amount_cents: int = Field(gt=0)
    allocations: list[Allocation]
    method: Method
    expected_withdrawal_date: str
    mandate_id: str | None
    contact: Contact
    channel: Literal["guest", "member", "autopay"]
    cycle: str | None = None  # an autopay draft's cycle, "YYYY-MM"
    # An R01/R09 return presented again: its attempt (2, 3) and the first presentment's id.
    attempt: int = Field(default=1, ge=1)
    retry_of: str | None = None


class PaymentSettledData(Payload):
    EVENT_TYPE: ClassVar[str] = PAYMENT_SETTLED
    payment_id: str
    confirmation_number: str
    billing_account_number: str
    amount_cents: int = Field(gt=0)
    allocations: list[Allocation]
    method: Method
    settled_on: str
    contact: Contact
    kind: Literal["one_time", "recurring"] | None = None


class PaymentFailedData(Payload):
    EVENT_TYPE: ClassVar[str] = PAYMENT_FAILED
    payment_id: str
    confirmation_number: str
    billing_account_number: str
    amount_cents: int = Field(gt=0)
    method: Method
    reason_code: str
    reason: str
    contact: Contact
    kind: Literal["one_time", "recurring"] | None = None


class PaymentReturnedData(Payload):
    EVENT_TYPE: ClassVar[str] = PAYMENT_RETURNED
    payment_id: str
    confirmation_number: str
    billing_account_number: str
    amount_cents: int = Field(gt=0)
    method: Method
    return_code: str = Field(pattern=r"^R[0-9][0-9]$")
    return_reason: str
    returned_on: str
    will_retry: bool
    method_disabled: bool
    mandate_cancelled: bool
    contact: Contact
    kind: Literal["one_time", "recurring"] | None = None


class AutopayCreatedData(Payload):
    EVENT_TYPE: ClassVar[str] = AUTOPAY_CREATED
    mandate_id: str
    billing_account_number: str
    method: Method
    next_draft_date: str
    contact: Contact
    confirmation_number: str | None = None   # the set-up's own number (AUT-...)
    plan_type: str | None = None
    authorization_text: str | None = None    # the terms the member agreed to


class DraftInFlight(Payload):
    """A draft already sent towards the bank: cancelling the recurring payment does not stop it."""
    payment_id: str
    amount_cents: int = Field(gt=0)
    expected_withdrawal_date: str


class AutopayCancelledData(Payload):
    EVENT_TYPE: ClassVar[str] = AUTOPAY_CANCELLED
    mandate_id: str
    billing_account_number: str
    reason: str
    contact: Contact
    drafts_in_flight: list[DraftInFlight] = []


class AutopayUpdatedData(Payload):
    """The recurring payment now draws from another bank account (a new authorization)."""
    EVENT_TYPE: ClassVar[str] = AUTOPAY_UPDATED
    mandate_id: str
    billing_account_number: str
    method: Method
    next_draft_date: str
    reason: Literal["method_changed"]
    contact: Contact


class MethodUpdatedData(Payload):
    EVENT_TYPE: ClassVar[str] = METHOD_UPDATED
    method_id: str
    billing_account_number: str
    method: Method
    status: Literal["active", "disabled", "corrected", "removed"]
    reason: str

