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
RETURN_RATE_ALERT = "return_rate.alert"
AUTOPAY_UPCOMING = "autopay.upcoming"
REFUND_REQUESTED = "refund.requested"
REFUND_ISSUED = "refund.issued"
REFUND_RETURNED = "refund.returned"
REFUND_FAILED = "refund.failed"
ACCOUNT_VALIDATION_STARTED = "account.validation_started"
ACCOUNT_MICRO_ENTRIES_SENT = "account.micro_entries_sent"
ACCOUNT_VALIDATED = "account.validated"
ACCOUNT_VALIDATION_FAILED = "account.validation_failed"


class Method(Payload):
    # check, money_order: an item received by mail (the lockbox) or at a counter; `last4`
    # is then the last four digits of the check's or money order's own number.
    type: Literal["checking", "savings", "card", "check", "money_order"]
    last4: str = Field(pattern=r"^[0-9]{4}$")
    brand: str | None = Field(default=None, exclude_if=is_none)  # cards only


class Contact(Payload):
    email: str | None = None
    phone: str | None = None
    language: str = "en"


PayerKind = Literal["representative", "ryan_white", "tribe", "tribal_organization",
                    "urban_indian_organization", "government_program"]


class Payer(Payload):
    """Who paid on the member's behalf (45 CFR 156.1250): an authorised representative or a
    third party. Left out of an event when the member paid for themselves."""
    kind: PayerKind
    name: str = Field(min_length=1, max_length=100)
    email: str | None = Field(default=None, exclude_if=is_none)  # where the payer's receipt goes


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
    channel: Literal["guest", "member", "autopay", "lockbox"]  # lockbox: a check or money order
    cycle: str | None = None  # an autopay draft's cycle, "YYYY-MM"
    # An R01/R09 return presented again: its attempt (2, 3) and the first presentment's id.
    attempt: int = Field(default=1, ge=1)
    retry_of: str | None = None
    payer: Payer | None = Field(default=None, exclude_if=is_none)  # a third party paid
    # A binder sent as Same Day ACH to settle by its due date: withdrawn on
    # expected_withdrawal_date, the day it is sent.
    same_day_ach: bool | None = Field(default=None, exclude_if=is_none)


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
    payer: Payer | None = Field(default=None, exclude_if=is_none)  # a third party paid


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
    payer: Payer | None = Field(default=None, exclude_if=is_none)  # a third party paid


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
    payer: Payer | None = Field(default=None, exclude_if=is_none)  # a third party paid


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
    # Set up fewer than 10 days before the first draft (Regulation E): the most that draft
    # takes, stated with its date, so this confirmation is that draft's notice; left out
    # otherwise.
    first_draft_amount_cents: int | None = Field(default=None, ge=0, exclude_if=is_none)


class NoticeRange(Payload):
    """The range a member chose at set-up: only a draft outside low..high is noticed."""
    low_cents: int = Field(ge=0)
    high_cents: int = Field(ge=0)


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


class ReturnRateAlertData(Payload):
    """An ACH return rate reached 80 % of its Nacha limit (`warning`) or crossed it (`over`),
    over the 60 days ending on `window_end`. Keyed `return-rates`; for operators: it names
    no account."""
    EVENT_TYPE: ClassVar[str] = RETURN_RATE_ALERT
    category: Literal["unauthorized", "administrative", "overall"]
    level: Literal["warning", "over"]
    returns: int = Field(ge=0)
    entries: int = Field(ge=0)
    rate_percent: str = Field(pattern=r"^[0-9]+\.[0-9]{2}$")
    limit_percent: str = Field(pattern=r"^[0-9]+\.[0-9]{2}$")
    return_codes: list[str]
    window_start: str
    window_end: str


class AutopayUpcomingData(Payload):
    """Regulation E's notice of a varying autopay draft, sent at least 10 days before it:
    the draft on `draft_date` takes `amount_cents` (less when less is owed then, never
    more). `previous_amount_cents`: the mandate's previous draft, null for its first;
    `reason`: why it is noticed (`first`, `changed`, or `outside_range` of the member's
    `notice_range`, left out when the member chose none); `cancel_by`: the last day a
    cancellation stops this draft."""
    EVENT_TYPE: ClassVar[str] = AUTOPAY_UPCOMING
    mandate_id: str
    billing_account_number: str
    amount_cents: int = Field(gt=0)
    draft_date: str
    previous_amount_cents: int | None = Field(ge=0)
    contact: Contact
    method: Method
    cycle: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}$")
    reason: Literal["first", "changed", "outside_range"]
    cancel_by: str
    plan_type: str | None = None
    notice_range: NoticeRange | None = Field(default=None, exclude_if=is_none)


class RefundRequestedData(Payload):
    """A member asked for (part of) the account's credit back. `status`: `approved` (it
    goes out with the next ACH credit file, or at once to a card) or `pending_approval`
    (over the approval amount: an operator approves it first). The refund goes back to the
    `method` that paid, shown as {type, last4, brand?} only."""
    EVENT_TYPE: ClassVar[str] = REFUND_REQUESTED
    refund_id: str
    confirmation_number: str
    billing_account_number: str
    amount_cents: int = Field(gt=0)
    method: Method
    status: Literal["approved", "pending_approval"]
    requested_on: str
    contact: Contact


class AccountValidationStartedData(Payload):
    """A bank account new to the system is validated before (or with) its first debit:
    `kind` prenote (a zero-dollar entry) or micro_entries (two credits under $1 the member
    confirms), in the ACH file of the next cutoff on or after `requested_on`."""
    EVENT_TYPE: ClassVar[str] = ACCOUNT_VALIDATION_STARTED
    validation_id: str
    method_id: str
    billing_account_number: str
    method: Method
    kind: Literal["prenote", "micro_entries"]
    requested_on: str
    contact: Contact


class RefundIssuedData(Payload):
    """The refund left: an ACH credit entry (transaction code 22 checking, 32 savings) in
    the day's refund file, effective `effective_date`, or a card refund by the processor.
    Billing takes it off the credit."""
    EVENT_TYPE: ClassVar[str] = REFUND_ISSUED
    refund_id: str
    confirmation_number: str
    billing_account_number: str
    amount_cents: int = Field(gt=0)
    method: Method
    issued_on: str
    effective_date: str
    contact: Contact


class RefundReturnedData(Payload):
    """The bank returned an ACH refund (an R-code in its return file): the money is ours
    again and billing gives the credit back."""
    EVENT_TYPE: ClassVar[str] = REFUND_RETURNED
    refund_id: str
    confirmation_number: str
    billing_account_number: str
    amount_cents: int = Field(gt=0)
    method: Method
    return_code: str = Field(pattern=r"^R[0-9][0-9]$")
    return_reason: str
    returned_on: str
    contact: Contact


class RefundFailedData(Payload):
    """A refund that could not be sent (the card processor refused it, or its ACH entry
    cannot be written): nothing left, so the credit stays on the account and the member is
    told; billing books nothing."""
    EVENT_TYPE: ClassVar[str] = REFUND_FAILED
    refund_id: str
    confirmation_number: str
    billing_account_number: str
    amount_cents: int = Field(gt=0)
    method: Method
    failure_code: str
    failed_on: str
    contact: Contact


class AccountMicroEntriesSentData(Payload):
    """The two micro-entry credits are on their way: they reach the account on
    `available_on`, and the member confirms their amounts (at most `tries_max` tries). The
    amounts themselves are never in an event."""
    EVENT_TYPE: ClassVar[str] = ACCOUNT_MICRO_ENTRIES_SENT
    validation_id: str
    method_id: str
    billing_account_number: str
    method: Method
    available_on: str
    tries_max: int = Field(ge=1)
    contact: Contact


class AccountValidatedData(Payload):
    """The account is validated (the prenote's waiting period passed with no return, or the
    member confirmed the micro-entries): its debits go in the next files."""
    EVENT_TYPE: ClassVar[str] = ACCOUNT_VALIDATED
    validation_id: str
    method_id: str
    billing_account_number: str
    method: Method
    kind: Literal["prenote", "micro_entries"]
    validated_on: str


class AccountValidationFailedData(Payload):
    """The account could not be validated: the bank returned a validation entry
    (`return_code`, reason `returned`) or the member used every try (`tries_exhausted`).
    The method is disabled; debits waiting for it failed (`payment.failed`)."""
    EVENT_TYPE: ClassVar[str] = ACCOUNT_VALIDATION_FAILED
    validation_id: str
    method_id: str
    billing_account_number: str
    method: Method
    kind: Literal["prenote", "micro_entries"]
    reason: Literal["returned", "tries_exhausted"]
    return_code: str | None = None
    failed_on: str
    contact: Contact
