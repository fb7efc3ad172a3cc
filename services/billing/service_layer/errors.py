"""Expected failures of billing's read models and use cases, with the codes and messages
the internal API documents; the HTTP entry point gives each its status. A refused payment
plan is the domain's own `BillingError` (domain/rules.py)."""
from __future__ import annotations

from shared.errors import DomainError


class UnknownAccount(DomainError):
    code = "not_found"
    message = "No billing account has that number."


class NoPaymentPlan(DomainError):
    code = "no_payment_plan"
    message = "This account has no payment plan."
