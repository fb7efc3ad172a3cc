"""Which message each event asks for, to whom, and with what facts (no I/O).

An event becomes at most one `Intent` (a template, where its recipients come from, and the
raw facts the template shows). The service layer resolves the recipients' addresses,
channels and language from its projections, then renders one notification per channel.
Values stay raw here (cents, ISO dates); templates format them for the reader's language.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# How channels are chosen:
# - "preferences": email if the member has email on, SMS if they opted into texts;
# - "email_always": the payer asked for this email (a guest's receipt), SMS per preference;
# - "email_only": an answer to a request made with this address (reset link, username).
Policy = Literal["preferences", "email_always", "email_only"]


@dataclass(frozen=True)
class Intent:
    template: str
    billing_account_number: str | None = None
    member_id: str | None = None
    contact: dict[str, Any] | None = None  # the event's own contact, if it carries one
    policy: Policy = "preferences"
    facts: dict[str, Any] = field(default_factory=dict)
    allowed_numbers: tuple[str, ...] = ()  # identifiers the redaction check must keep
    previous_email: str | None = None  # also told by email (an address change: the old one)

    @property
    def key(self) -> str:
        return self.billing_account_number or self.member_id or "unknown"


def _pick(data: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: data.get(n) for n in names}


def _payment(template: str, data: dict[str, Any], *names: str, policy: Policy = "preferences") -> Intent:
    facts = _pick(data, "confirmation_number", "amount_cents", "method", *names)
    return Intent(template, billing_account_number=data["billing_account_number"],
                  contact=data.get("contact"), policy=policy, facts=facts,
                  allowed_numbers=(str(data.get("confirmation_number") or ""),))


# Methods that are items received (by mail through the lockbox, or at a counter), not
# accounts drawn on: the payment is settled as soon as it is announced.
RECEIVED_ITEM_TYPES = ("check", "money_order")


def received_item_intent(event_type: str, data: dict[str, Any]) -> Intent | None:
    """A check or money order's one receipt. Its `payment.submitted` (channel `lockbox`)
    says it was received and applied; its `payment.settled`, published with it, asks for
    nothing more. No contact travels with a check: the household's or member's own
    addresses and language are used."""
    if event_type == "payment.submitted" and data.get("channel") == "lockbox":
        facts = _pick(data, "confirmation_number", "amount_cents", "method", "plan_type",
                      "expected_withdrawal_date")
        facts["deposit_date"] = facts.pop("expected_withdrawal_date")
        return Intent("check_received", billing_account_number=data["billing_account_number"],
                      facts=facts, allowed_numbers=(str(data.get("confirmation_number") or ""),))
    return None


def _is_received_item(event_type: str, data: dict[str, Any]) -> bool:
    return event_type in ("payment.submitted", "payment.settled") and (
        data.get("channel") == "lockbox"
        or (data.get("method") or {}).get("type") in RECEIVED_ITEM_TYPES)


def intent_for(event_type: str, data: dict[str, Any]) -> Intent | None:
    """The message an event asks for, or None (projection-only events)."""
    if _is_received_item(event_type, data):
        return received_item_intent(event_type, data)
    ban = data.get("billing_account_number")
    if event_type == "payment.submitted":
        policy: Policy = "email_always" if data.get("channel") == "guest" else "preferences"
        if data.get("retry_of"):  # a returned payment presented again: not a new payment
            return _payment("payment_retry", data, "expected_withdrawal_date", "kind", "plan_type",
                            "attempt", policy=policy)
        return _payment("payment_received", data, "expected_withdrawal_date", "kind",
                        "plan_type", "allocations", policy=policy)
    if event_type == "payment.settled":
        return _payment("payment_settled", data, "settled_on")
    if event_type == "payment.failed":
        return _payment("payment_failed", data, "reason_code", "reason")
    if event_type == "payment.returned":
        return _payment("payment_returned", data, "return_code", "return_reason", "returned_on",
                        "will_retry", "method_disabled", "mandate_cancelled")
    if event_type == "autopay.created":
        # The authorization is sent as the member agreed to it, except that messages name a
        # billing account by its last four digits only, as everywhere else.
        facts = _pick(data, "method", "next_draft_date", "confirmation_number", "authorization_text",
                      "first_draft_amount_cents")
        if facts["authorization_text"] and ban:
            ending = "que termina en" if (data.get("contact") or {}).get("language") == "es" \
                else "ending in"
            facts["authorization_text"] = facts["authorization_text"].replace(
                ban, f"{ending} {ban[-4:]}")
        return Intent("autopay_created", billing_account_number=ban, contact=data.get("contact"),
                      facts=facts, allowed_numbers=(str(data.get("confirmation_number") or ""),))
    if event_type == "autopay.upcoming":  # Regulation E: a varying draft, 10 days ahead
        return Intent("autopay_upcoming", billing_account_number=ban, contact=data.get("contact"),
                      facts=_pick(data, "amount_cents", "draft_date", "previous_amount_cents",
                                  "method", "cancel_by", "reason"))
    if event_type == "autopay.updated":  # the member's new bank account for the drafts
        # The mandate's addresses; the language is the member's own (their profile), since
        # the contact saved with a mandate set up through the API carries none of its own.
        contact = data.get("contact") or {}
        return Intent("autopay_method_changed", billing_account_number=ban,
                      contact={"email": contact.get("email"), "phone": contact.get("phone")},
                      facts=_pick(data, "method", "next_draft_date"))
    if event_type == "autopay.cancelled":
        # Cancelled by the member or after a return ("R07: ..."); drafts already made still happen.
        reason = str(data.get("reason") or "")
        returned = len(reason) >= 3 and reason[0] == "R" and reason[1:3].isascii() and reason[1:3].isdigit()
        return Intent("autopay_cancelled", billing_account_number=ban, contact=data.get("contact"),
                      facts={"reason": reason, "returned": returned,
                             "drafts_in_flight": list(data.get("drafts_in_flight") or [])})
    if event_type == "invoice.issued":
        return Intent("bill_ready", billing_account_number=ban, facts=_pick(
            data, "kind", "coverage_year", "coverage_month", "amount_cents", "due_date",
            "total_balance_cents"))
    if event_type == "account.delinquent":
        stage = data.get("stage")
        if stage not in ("grace_started", "grace_notice", "grace_ended"):
            return None
        return Intent(stage, billing_account_number=ban, facts=_pick(
            data, "aptc", "past_due_cents", "grace_start", "grace_end", "month_of_grace"))
    if event_type == "coverage.effectuated":
        return Intent("coverage_effectuated", billing_account_number=ban,
                      facts=_pick(data, "coverage_year", "coverage_start"))
    if event_type == "coverage.terminated":
        return Intent("coverage_terminated", billing_account_number=ban,
                      facts=_pick(data, "coverage_year", "effective_date", "reason",
                                  "reinstatement_amount_cents", "reinstate_by"))
    if event_type == "password.reset_requested":
        return Intent("password_reset", member_id=data["member_id"], contact=_contact(data),
                      policy="email_only", facts=_pick(data, "reset_url", "expires_at"),
                      allowed_numbers=(str(data.get("reset_url") or ""),))
    if event_type == "username.reminder_requested":
        return Intent("username_reminder", member_id=data["member_id"], contact=_contact(data),
                      policy="email_only", facts=_pick(data, "username"))
    if event_type == "member.login_throttled":
        bans = data.get("billing_account_numbers") or []
        return Intent("login_throttled", member_id=data["member_id"],
                      billing_account_number=bans[0] if bans else None,
                      contact=_contact(data), facts=_pick(data, "retry_at"))
    if event_type == "member.password_changed":
        return Intent("password_changed", member_id=data["member_id"], contact=_contact(data),
                      policy="email_only", facts=_pick(data, "changed_at"))
    if event_type == "member.email_changed":
        return Intent("email_changed", member_id=data["member_id"],
                      contact={"email": data.get("new_email"), "language": data.get("language")},
                      policy="email_only", previous_email=data.get("old_email"),
                      facts=_pick(data, "new_email", "changed_at"))
    if event_type == "member.registration_repeated":
        return Intent("already_registered", member_id=data["member_id"], contact=_contact(data),
                      policy="email_only", facts=_pick(data, "username"))
    return None


def reminder_intent(billing_account_number: str, due_date: str, total_balance_cents: int) -> Intent:
    """The due-date reminder the daily job sends when a balance is due and unpaid."""
    return Intent("due_reminder", billing_account_number=billing_account_number,
                  facts={"due_date": due_date, "total_balance_cents": total_balance_cents})


def _contact(data: dict[str, Any]) -> dict[str, Any]:
    return {"email": data.get("email"), "phone": data.get("phone"),
            "language": data.get("language")}


MESSAGE_EVENT_TYPES = (
    "payment.submitted", "payment.settled", "payment.failed", "payment.returned",
    "autopay.created", "autopay.updated", "autopay.cancelled", "autopay.upcoming", "invoice.issued",
    "account.delinquent", "coverage.effectuated", "coverage.terminated", "password.reset_requested",
    "username.reminder_requested", "member.login_throttled", "member.password_changed",
    "member.email_changed", "member.registration_repeated",
)
TEMPLATES = (
    "payment_received", "payment_retry", "payment_settled", "payment_failed", "payment_returned",
    "autopay_created", "autopay_method_changed", "autopay_cancelled", "bill_ready", "due_reminder",
    "grace_started", "grace_notice", "grace_ended", "coverage_effectuated", "coverage_terminated",
    "password_reset", "username_reminder", "login_throttled", "password_changed",
    "email_changed", "already_registered", "plan_payable", "autopay_upcoming",
    "check_received",
)


def payable_intent(channel: str, recipient: str, language: str, payable_at: str) -> Intent:
    """The message a person asked for when their new plan could not be paid yet (the
    4-hour rule): on the channel and address they gave, in their language."""
    contact = {"email": recipient} if channel == "email" else {"phone": recipient}
    return Intent("plan_payable", contact={**contact, "language": language},
                  policy="email_only" if channel == "email" else "preferences",
                  facts={"payable_at": payable_at})
