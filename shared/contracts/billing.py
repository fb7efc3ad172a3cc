"""`billing.v1`: what the billing service publishes (docs/events.md). Keyed by billing
account number. Money is integer cents; dates are `YYYY-MM-DD`, months `YYYY-MM`.

Billing builds every event it enqueues from these models, so a payload that drifts from
docs/events.md fails in billing's own tests rather than in a subscriber.
"""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from shared.contracts.base import Payload, is_none

ACCOUNT_OPENED = "account.opened"
INVOICE_ISSUED = "invoice.issued"
BALANCE_CHANGED = "balance.changed"
PAYMENT_APPLIED = "payment.applied"
PAYMENT_REVERSED = "payment.reversed"
ACCOUNT_DELINQUENT = "account.delinquent"
COVERAGE_EFFECTUATED = "coverage.effectuated"
COVERAGE_TERMINATED = "coverage.terminated"

BAN_PATTERN = r"^7[0-9]{9}$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
MONTH_PATTERN = r"^[0-9]{4}-[0-9]{2}$"


class AccountOpenedData(Payload):
    """Sent when an account opens, and again (with the new year) when a renewal adds a line."""
    EVENT_TYPE: ClassVar[str] = ACCOUNT_OPENED
    billing_account_number: str = Field(pattern=BAN_PATTERN)
    household_id: str
    plan_type: Literal["health", "dental"]
    enrollment_ids: list[str]
    coverage_years: list[int]
    aptc: bool


class InvoiceIssuedData(Payload):
    EVENT_TYPE: ClassVar[str] = INVOICE_ISSUED
    billing_account_number: str = Field(pattern=BAN_PATTERN)
    invoice_id: str
    kind: Literal["binder", "monthly"]
    coverage_year: int
    coverage_month: str = Field(pattern=MONTH_PATTERN)
    amount_cents: int = Field(ge=0)
    due_date: str = Field(pattern=DATE_PATTERN)
    total_balance_cents: int


class BalanceLine(Payload):
    coverage_year: int
    balance_cents: int
    current_premium_cents: int = Field(ge=0)
    due_date: str | None = Field(pattern=DATE_PATTERN)
    # The line's binder (first payment) is owed: a debit paying it must settle by due_date
    # or the enrollment never starts (payments sends it Same Day ACH when it must).
    binder: bool = False


class BalanceChangedData(Payload):
    """The whole owed picture of one account (payments keeps a projection of it)."""
    EVENT_TYPE: ClassVar[str] = BALANCE_CHANGED
    billing_account_number: str = Field(pattern=BAN_PATTERN)
    plan_type: Literal["health", "dental"]
    total_balance_cents: int
    lines: list[BalanceLine]
    reason: str


class AppliedAllocation(Payload):
    coverage_year: int
    coverage_month: str = Field(pattern=MONTH_PATTERN)
    amount_cents: int = Field(gt=0)


class PaymentAppliedData(Payload):
    EVENT_TYPE: ClassVar[str] = PAYMENT_APPLIED
    billing_account_number: str = Field(pattern=BAN_PATTERN)
    payment_id: str
    amount_cents: int = Field(gt=0)
    allocations: list[AppliedAllocation]
    credit_cents: int = Field(ge=0)
    total_balance_cents: int


class PaymentReversedData(Payload):
    EVENT_TYPE: ClassVar[str] = PAYMENT_REVERSED
    billing_account_number: str = Field(pattern=BAN_PATTERN)
    payment_id: str
    amount_cents: int = Field(ge=0)
    return_code: str
    total_balance_cents: int


class AccountDelinquentData(Payload):
    EVENT_TYPE: ClassVar[str] = ACCOUNT_DELINQUENT
    billing_account_number: str = Field(pattern=BAN_PATTERN)
    stage: Literal["grace_started", "grace_notice", "grace_ended"]
    aptc: bool
    past_due_cents: int = Field(ge=0)
    grace_start: str = Field(pattern=DATE_PATTERN)
    grace_end: str = Field(pattern=DATE_PATTERN)
    month_of_grace: int = Field(ge=1, le=3)


class CoverageEffectuatedData(Payload):
    EVENT_TYPE: ClassVar[str] = COVERAGE_EFFECTUATED
    billing_account_number: str = Field(pattern=BAN_PATTERN)
    enrollment_id: str
    coverage_year: int
    coverage_start: str = Field(pattern=DATE_PATTERN)
    reinstated: bool | None = Field(default=None, exclude_if=is_none)  # true when paying in full undid a non-payment termination


class CoverageTerminatedData(Payload):
    EVENT_TYPE: ClassVar[str] = COVERAGE_TERMINATED
    billing_account_number: str = Field(pattern=BAN_PATTERN)
    enrollment_ids: list[str]
    coverage_year: int
    effective_date: str = Field(pattern=DATE_PATTERN)
    reason: Literal["non_payment", "binder_unpaid", "enrollment_terminated"]
    # non_payment only: what reinstates the coverage and the last day to pay it (956 CMR 12.12);
    # left out for the other reasons
    reinstatement_amount_cents: int | None = Field(default=None, ge=0, exclude_if=is_none)
    reinstate_by: str | None = Field(default=None, pattern=DATE_PATTERN, exclude_if=is_none)


BillingPayload = (AccountOpenedData | InvoiceIssuedData | BalanceChangedData | PaymentAppliedData
                  | PaymentReversedData | AccountDelinquentData | CoverageEffectuatedData
                  | CoverageTerminatedData)
