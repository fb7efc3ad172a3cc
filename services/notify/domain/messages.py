"""Which message each event asks for, to whom, and with what facts (no I/O).

An event becomes at most one `Intent` (a template, where its recipients come from, and the
raw facts the template shows). The service layer resolves the recipients' addresses,
channels and language from its projections, then renders one notification per channel.
Values stay raw here (cents, ISO dates); templates format them for the reader's language.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.contracts import billing as bl
from shared.contracts import identity as idn
from shared.contracts import payments as pay
from shared.contracts.base import Payload

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
    to_operators: bool = False  # for the exchange's operators (NOTIFY_OPERATOR_EMAIL), not a member
    slot: str = ""  # a second message from the same event (the payer's receipt): its own ids

    @property
    def key(self) -> str:
        return self.billing_account_number or self.member_id or (
            "operators" if self.to_operators else "unknown")


def _pick(payload: Payload, *names: str) -> dict[str, Any]:
    """The named fields of a payload as raw JSON values (None for a field it does not have)."""
    values = payload.model_dump(mode="json", include=set(names))
    return {n: values.get(n) for n in names}


PaymentPayload = (pay.PaymentSubmittedData | pay.PaymentSettledData | pay.PaymentFailedData
                  | pay.PaymentReturnedData)


def _payment(template: str, data: PaymentPayload, *names: str,
             policy: Policy = "preferences") -> Intent:
    facts = _pick(data, "confirmation_number", "amount_cents", "method", *names)
    facts["payer"] = _payer_facts(data.payer)
    return Intent(template, billing_account_number=data.billing_account_number,
                  contact=data.contact.to_data(), policy=policy, facts=facts,
                  allowed_numbers=(data.confirmation_number,))


def _payer_facts(payer: pay.Payer | None) -> dict[str, str] | None:
    """Who paid, for the member's receipts ("Paid by Ryan White program: ..."); None when
    the member paid. The payer's email is not shown to the member."""
    return {"kind": payer.kind, "name": payer.name} if payer is not None else None


def payer_receipt_intent(data: pay.PaymentSubmittedData) -> Intent | None:
    """A representative's or third party's own receipt, to the email they gave with the
    payment, in the payment's language: the account paid from and the member's billing
    account by their last four digits only (the template names no member)."""
    payer = data.payer
    if payer is None or not payer.email or data.retry_of or data.channel == "lockbox":
        return None
    facts = _pick(data, "confirmation_number", "amount_cents", "method", "plan_type",
                  "expected_withdrawal_date", "kind")
    facts["payer"] = _payer_facts(payer)
    return Intent("payer_receipt", billing_account_number=data.billing_account_number,
                  contact={"email": payer.email, "language": data.contact.language},
                  policy="email_only", facts=facts, slot="payer",
                  allowed_numbers=(data.confirmation_number,))


# Methods that are items received (by mail through the lockbox, or at a counter), not
# accounts drawn on: the payment is settled as soon as it is announced.
RECEIVED_ITEM_TYPES = ("check", "money_order")


def received_item_intent(data: pay.PaymentSubmittedData | pay.PaymentSettledData) -> Intent | None:
    """A check or money order's one receipt. Its `payment.submitted` (channel `lockbox`)
    says it was received and applied; its `payment.settled`, published with it, asks for
    nothing more. No contact travels with a check: the household's or member's own
    addresses and language are used."""
    if isinstance(data, pay.PaymentSubmittedData) and data.channel == "lockbox":
        facts = _pick(data, "confirmation_number", "amount_cents", "method", "plan_type",
                      "expected_withdrawal_date")
        facts["deposit_date"] = facts.pop("expected_withdrawal_date")
        return Intent("check_received", billing_account_number=data.billing_account_number,
                      facts=facts, allowed_numbers=(data.confirmation_number,))
    return None


def _is_received_item(data: pay.PaymentSubmittedData | pay.PaymentSettledData) -> bool:
    return getattr(data, "channel", None) == "lockbox" or data.method.type in RECEIVED_ITEM_TYPES


def _submitted(data: pay.PaymentSubmittedData) -> Intent:
    policy: Policy = "email_always" if data.channel == "guest" else "preferences"
    if data.retry_of:  # a returned payment presented again: not a new payment
        return _payment("payment_retry", data, "expected_withdrawal_date", "kind", "plan_type",
                        "attempt", policy=policy)
    return _payment("payment_received", data, "expected_withdrawal_date", "kind",
                    "plan_type", "allocations", "same_day_ach", policy=policy)


def _settled(data: pay.PaymentSettledData) -> Intent:
    return _payment("payment_settled", data, "settled_on")


def _failed(data: pay.PaymentFailedData) -> Intent:
    return _payment("payment_failed", data, "reason_code", "reason")


def _returned(data: pay.PaymentReturnedData) -> Intent:
    return _payment("payment_returned", data, "return_code", "return_reason", "returned_on",
                    "will_retry", "method_disabled", "mandate_cancelled")


def _refund(template: str, data: pay.RefundIssuedData | pay.RefundReturnedData | pay.RefundFailedData,
            *names: str) -> Intent:
    return Intent(template, billing_account_number=data.billing_account_number,
                  contact=data.contact.to_data(),
                  facts=_pick(data, "confirmation_number", "amount_cents", "method", *names),
                  allowed_numbers=(data.confirmation_number,))


def _refund_issued(data: pay.RefundIssuedData) -> Intent:
    return _refund("refund_issued", data, "issued_on", "effective_date")


def _refund_returned(data: pay.RefundReturnedData) -> Intent:
    return _refund("refund_returned", data, "return_code", "return_reason", "returned_on")


def _refund_failed(data: pay.RefundFailedData) -> Intent:
    return _refund("refund_failed", data, "failed_on")


def _autopay_created(data: pay.AutopayCreatedData) -> Intent:
    # The authorization is sent as the member agreed to it, except that messages name a
    # billing account by its last four digits only, as everywhere else.
    ban = data.billing_account_number
    facts = _pick(data, "method", "next_draft_date", "confirmation_number", "authorization_text",
                  "first_draft_amount_cents")
    if data.authorization_text and ban:
        ending = "que termina en" if data.contact.language == "es" else "ending in"
        facts["authorization_text"] = data.authorization_text.replace(ban, f"{ending} {ban[-4:]}")
    return Intent("autopay_created", billing_account_number=ban, contact=data.contact.to_data(),
                  facts=facts, allowed_numbers=(data.confirmation_number or "",))


def _autopay_upcoming(data: pay.AutopayUpcomingData) -> Intent:
    """Regulation E: the notice of a varying draft, 10 days ahead."""
    return Intent("autopay_upcoming", billing_account_number=data.billing_account_number,
                  contact=data.contact.to_data(),
                  facts=_pick(data, "amount_cents", "draft_date", "previous_amount_cents",
                              "method", "cancel_by", "reason"))


def _autopay_updated(data: pay.AutopayUpdatedData) -> Intent:
    """The member's new bank account for the drafts. The mandate's addresses; the language
    is the member's own (their profile), since the contact saved with a mandate set up
    through the API carries none of its own."""
    return Intent("autopay_method_changed", billing_account_number=data.billing_account_number,
                  contact={"email": data.contact.email, "phone": data.contact.phone},
                  facts=_pick(data, "method", "next_draft_date"))


def _autopay_cancelled(data: pay.AutopayCancelledData) -> Intent:
    # Cancelled by the member or after a return ("R07: ..."); drafts already made still happen.
    reason = data.reason
    returned = len(reason) >= 3 and reason[0] == "R" and reason[1:3].isascii() and reason[1:3].isdigit()
    return Intent("autopay_cancelled", billing_account_number=data.billing_account_number,
                  contact=data.contact.to_data(),
                  facts={"reason": reason, "returned": returned,
                         "drafts_in_flight": [d.to_data() for d in data.drafts_in_flight]})


def _invoice(data: bl.InvoiceIssuedData) -> Intent:
    return Intent("bill_ready", billing_account_number=data.billing_account_number, facts=_pick(
        data, "kind", "coverage_year", "coverage_month", "amount_cents", "due_date",
        "total_balance_cents"))


def _delinquent(data: bl.AccountDelinquentData) -> Intent:
    return Intent(data.stage, billing_account_number=data.billing_account_number, facts=_pick(
        data, "aptc", "past_due_cents", "grace_start", "grace_end", "month_of_grace"))


def _effectuated(data: bl.CoverageEffectuatedData) -> Intent:
    return Intent("coverage_effectuated", billing_account_number=data.billing_account_number,
                  facts=_pick(data, "coverage_year", "coverage_start"))


def _terminated(data: bl.CoverageTerminatedData) -> Intent:
    return Intent("coverage_terminated", billing_account_number=data.billing_account_number,
                  facts=_pick(data, "coverage_year", "effective_date", "reason",
                              "reinstatement_amount_cents", "reinstate_by"))


def _reset(data: idn.PasswordResetRequestedData) -> Intent:
    return Intent("password_reset", member_id=data.member_id, contact=_contact(data),
                  policy="email_only", facts=_pick(data, "reset_url", "expires_at"),
                  allowed_numbers=(data.reset_url,))


def _username(data: idn.UsernameReminderRequestedData) -> Intent:
    return Intent("username_reminder", member_id=data.member_id, contact=_contact(data),
                  policy="email_only", facts=_pick(data, "username"))


def _throttled(data: idn.MemberLoginThrottledData) -> Intent:
    bans = data.billing_account_numbers
    return Intent("login_throttled", member_id=data.member_id,
                  billing_account_number=bans[0] if bans else None,
                  contact=_contact(data), facts=_pick(data, "retry_at"))


def _password_changed(data: idn.MemberPasswordChangedData) -> Intent:
    return Intent("password_changed", member_id=data.member_id, contact=_contact(data),
                  policy="email_only", facts=_pick(data, "changed_at"))


def _email_changed(data: idn.MemberEmailChangedData) -> Intent:
    return Intent("email_changed", member_id=data.member_id,
                  contact={"email": data.new_email, "language": data.language},
                  policy="email_only", previous_email=data.old_email,
                  facts=_pick(data, "new_email", "changed_at"))


def _already_registered(data: idn.MemberRegistrationRepeatedData) -> Intent:
    return Intent("already_registered", member_id=data.member_id, contact=_contact(data),
                  policy="email_only", facts=_pick(data, "username"))


def _micro_entries_sent(data: pay.AccountMicroEntriesSentData) -> Intent:
    """Two micro-entry credits are on their way: the member confirms their amounts."""
    return Intent("account_micro_entries", billing_account_number=data.billing_account_number,
                  contact=data.contact.to_data(), facts=_pick(data, "method", "available_on", "tries_max"))


def _validation_failed(data: pay.AccountValidationFailedData) -> Intent:
    """A new bank account could not be validated: the member pays another way."""
    return Intent("account_validation_failed", billing_account_number=data.billing_account_number,
                  contact=data.contact.to_data(),
                  facts=_pick(data, "method", "reason", "return_code", "failed_on"))


def _return_rate_alert(data: pay.ReturnRateAlertData) -> Intent:
    """An ACH return rate at 80 % of its Nacha limit or over it: the operators are told."""
    return Intent("return_rate_alert", policy="email_only", to_operators=True,
                  facts=_pick(data, "category", "level", "returns", "entries", "rate_percent",
                              "limit_percent", "return_codes", "window_start", "window_end"))


# The message each event type asks for, keyed by the contracts' event types.
_INTENTS: dict[str, Callable[[Any], Intent]] = {
    pay.PAYMENT_SUBMITTED: _submitted, pay.PAYMENT_SETTLED: _settled,
    pay.PAYMENT_FAILED: _failed, pay.PAYMENT_RETURNED: _returned,
    pay.AUTOPAY_CREATED: _autopay_created, pay.AUTOPAY_UPDATED: _autopay_updated,
    pay.AUTOPAY_CANCELLED: _autopay_cancelled, pay.AUTOPAY_UPCOMING: _autopay_upcoming,
    bl.INVOICE_ISSUED: _invoice,
    bl.ACCOUNT_DELINQUENT: _delinquent, bl.COVERAGE_EFFECTUATED: _effectuated,
    bl.COVERAGE_TERMINATED: _terminated, idn.PASSWORD_RESET_REQUESTED: _reset,
    idn.USERNAME_REMINDER_REQUESTED: _username, idn.MEMBER_LOGIN_THROTTLED: _throttled,
    idn.MEMBER_PASSWORD_CHANGED: _password_changed, idn.MEMBER_EMAIL_CHANGED: _email_changed,
    idn.MEMBER_REGISTRATION_REPEATED: _already_registered,
    pay.RETURN_RATE_ALERT: _return_rate_alert,
    pay.REFUND_ISSUED: _refund_issued, pay.REFUND_RETURNED: _refund_returned,
    pay.REFUND_FAILED: _refund_failed,
    pay.ACCOUNT_MICRO_ENTRIES_SENT: _micro_entries_sent,
    pay.ACCOUNT_VALIDATION_FAILED: _validation_failed,
}


def intent_for(data: Payload) -> Intent | None:
    """The message an event asks for (given its typed payload), or None (projection-only
    events)."""
    if isinstance(data, pay.PaymentSubmittedData | pay.PaymentSettledData) and _is_received_item(data):
        return received_item_intent(data)
    build = _INTENTS.get(data.EVENT_TYPE)
    return build(data) if build is not None else None


def intents_for(data: Payload) -> list[Intent]:
    """Every message an event asks for: `intent_for`'s, and a payment's receipt to a
    third party who paid and gave an email."""
    out = [i] if (i := intent_for(data)) is not None else []
    if isinstance(data, pay.PaymentSubmittedData) and (payer := payer_receipt_intent(data)):
        out.append(payer)
    return out


def reminder_intent(billing_account_number: str, due_date: str, total_balance_cents: int) -> Intent:
    """The due-date reminder the daily job sends when a balance is due and unpaid."""
    return Intent("due_reminder", billing_account_number=billing_account_number,
                  facts={"due_date": due_date, "total_balance_cents": total_balance_cents})


def _contact(data: idn.MemberLoginThrottledData | idn.MemberPasswordChangedData
             | idn.MemberRegistrationRepeatedData | idn.PasswordResetRequestedData
             | idn.UsernameReminderRequestedData) -> dict[str, Any]:
    return {"email": data.email, "phone": getattr(data, "phone", None), "language": data.language}


MESSAGE_EVENT_TYPES = tuple(_INTENTS)
TEMPLATES = (
    "payment_received", "payment_retry", "payment_settled", "payment_failed", "payment_returned",
    "autopay_created", "autopay_method_changed", "autopay_cancelled", "bill_ready", "due_reminder",
    "grace_started", "grace_notice", "grace_ended", "coverage_effectuated", "coverage_terminated",
    "password_reset", "username_reminder", "login_throttled", "password_changed",
    "email_changed", "already_registered", "plan_payable", "autopay_upcoming",
    "check_received", "return_rate_alert", "payer_receipt", "refund_issued", "refund_returned",
    "refund_failed", "account_micro_entries", "account_validation_failed",
)
# Written for the exchange's operators (NOTIFY_OPERATOR_EMAIL), not for a member: no portal
# link, no member's language.
OPERATOR_TEMPLATES = ("return_rate_alert",)


def payable_intent(channel: str, recipient: str, language: str, payable_at: str) -> Intent:
    """The message a person asked for when their new plan could not be paid yet (the
    4-hour rule): on the channel and address they gave, in their language."""
    contact = {"email": recipient} if channel == "email" else {"phone": recipient}
    return Intent("plan_payable", contact={**contact, "language": language},
                  policy="email_only" if channel == "email" else "preferences",
                  facts={"payable_at": payable_at})
