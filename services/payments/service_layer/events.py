"""Building the payments.v1 payloads (docs/events.md) from rows, as the contract's models (so
a payload that drifts from the contract fails here); the outbox publishes them."""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import asyncpg
import orjson

from shared import outbox
from shared.contracts import payments as ev
from shared.contracts.envelope import Envelope

PaymentsPayload = (ev.PaymentSubmittedData | ev.PaymentSettledData | ev.PaymentFailedData
                   | ev.PaymentReturnedData | ev.AutopayCreatedData | ev.AutopayCancelledData
                   | ev.AutopayUpdatedData | ev.MethodUpdatedData | ev.AutopayUpcomingData
                   | ev.RefundRequestedData | ev.RefundIssuedData | ev.RefundReturnedData | ev.RefundFailedData
                   | ev.AccountValidationStartedData | ev.AccountMicroEntriesSentData
                   | ev.AccountValidatedData | ev.AccountValidationFailedData)


def method_of(row: Mapping[str, Any]) -> ev.Method:
    """{type, last4, brand?} from a payment row (method_type...) or a method row (type...)."""
    return ev.Method(**_method(row))


def _method(row: Mapping[str, Any]) -> dict[str, Any]:
    kind = row["method_type"] if "method_type" in row else row["type"]
    last4 = row["method_last4"] if "method_last4" in row else row["last4"]
    brand = row["method_brand"] if "method_brand" in row else row.get("brand")
    return {"type": kind, "last4": last4, "brand": brand or None}


def contact_of(value: Any) -> ev.Contact:
    return ev.Contact(**_contact(value))


def _contact(value: Any) -> dict[str, Any]:
    c = value if isinstance(value, dict) else orjson.loads(value or "{}")
    return {"email": c.get("email"), "phone": c.get("phone"), "language": c.get("language") or "en"}


def payer_of(p: Mapping[str, Any]) -> ev.Payer | None:
    """The third party who paid, from a payment row; None when the member paid."""
    fields = _payer(p)
    return None if fields is None else ev.Payer(**fields)


def _payer(p: Mapping[str, Any]) -> dict[str, Any] | None:
    kind = p.get("payer_kind") or "member"
    if kind == "member" or not p.get("payer_name"):
        return None
    return {"kind": kind, "name": p["payer_name"], "email": p.get("payer_email") or None}


async def enqueue(conn: asyncpg.Connection, *payloads: PaymentsPayload) -> None:
    """Record payments.v1 events in the caller's transaction, each keyed by its account."""
    await outbox.enqueue_many(conn, [envelope(p) for p in payloads])


def envelope(payload: PaymentsPayload) -> Envelope:
    """The envelope of a payload keyed by its account (for writing many at once)."""
    return Envelope.of(payload, key=payload.billing_account_number)


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


# payment.submitted and payment.settled are written in bulk (autopay's drafts, the day's
# settlement), so their builders make the payload's fields as plain values, nested parts as
# dicts, which the model validates in one call (nested models included); `*_envelope` goes
# one step further for the bulk paths (`Envelope.of_fields`: payload and envelope in one
# validation, then one serialisation).
def submitted(p: Mapping[str, Any]) -> ev.PaymentSubmittedData:
    return ev.PaymentSubmittedData(**_submitted(p))


def submitted_envelope(p: Mapping[str, Any]) -> Envelope:
    """`envelope(submitted(p))`, in one validation and one serialisation (the bulk paths)."""
    return Envelope.of_fields(ev.PaymentSubmittedData, _submitted(p), key=p["billing_account_number"])


def _submitted(p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "payment_id": str(p["payment_id"]), "confirmation_number": p["confirmation_number"],
        "billing_account_number": p["billing_account_number"], "plan_type": p["plan_type"],
        "kind": p["kind"], "amount_cents": p["amount_cents"], "allocations": _allocs(p),
        "method": _method(p), "expected_withdrawal_date": _iso(p["expected_withdrawal_date"]),
        "mandate_id": str(p["mandate_id"]) if p["mandate_id"] else None,
        "contact": _contact(p["contact"]), "channel": p["channel"], "cycle": p["cycle"],
        "attempt": p["attempt"], "retry_of": str(p["retry_of"]) if p["retry_of"] else None,
        "payer": _payer(p), "same_day_ach": True if p.get("same_day_window") else None}


def settled(p: Mapping[str, Any], settled_on: date) -> ev.PaymentSettledData:
    return ev.PaymentSettledData(**_settled(p, settled_on))


def settled_envelope(p: Mapping[str, Any], settled_on: date) -> Envelope:
    """`envelope(settled(p, settled_on))`, in one validation and one serialisation (the bulk
    paths)."""
    return Envelope.of_fields(ev.PaymentSettledData, _settled(p, settled_on),
                              key=p["billing_account_number"])


def _settled(p: Mapping[str, Any], settled_on: date) -> dict[str, Any]:
    return {
        "payment_id": str(p["payment_id"]), "confirmation_number": p["confirmation_number"],
        "billing_account_number": p["billing_account_number"], "amount_cents": p["amount_cents"],
        "allocations": _allocs(p), "method": _method(p), "settled_on": settled_on.isoformat(),
        "contact": _contact(p["contact"]), "kind": p["kind"], "payer": _payer(p)}


def failed(p: Mapping[str, Any], code: str, reason: str) -> ev.PaymentFailedData:
    return ev.PaymentFailedData(
        payment_id=str(p["payment_id"]), confirmation_number=p["confirmation_number"],
        billing_account_number=p["billing_account_number"], amount_cents=p["amount_cents"],
        method=method_of(p), reason_code=code, reason=reason,
        contact=contact_of(p["contact"]), kind=p["kind"], payer=payer_of(p))


def returned(p: Mapping[str, Any], code: str, reason: str, returned_on: date, will_retry: bool,
             method_disabled: bool, mandate_cancelled: bool) -> ev.PaymentReturnedData:
    return ev.PaymentReturnedData(
        payment_id=str(p["payment_id"]), confirmation_number=p["confirmation_number"],
        billing_account_number=p["billing_account_number"], amount_cents=p["amount_cents"],
        method=method_of(p), return_code=code, return_reason=reason,
        returned_on=returned_on.isoformat(), will_retry=will_retry,
        method_disabled=method_disabled, mandate_cancelled=mandate_cancelled,
        contact=contact_of(p["contact"]), kind=p["kind"], payer=payer_of(p))


def autopay_created(m: Mapping[str, Any], method: Mapping[str, Any], next_draft: date,
                    terms: str, first_draft_cents: int | None = None) -> ev.AutopayCreatedData:
    """`authorization_text`: the terms the member agreed to (the account is in `method`);
    `first_draft_cents`: the first draft's most, stated when the set-up is inside that
    draft's notice window (Regulation E), else left out."""
    return ev.AutopayCreatedData(
        mandate_id=str(m["mandate_id"]), billing_account_number=m["billing_account_number"],
        method=method_of(method), next_draft_date=next_draft.isoformat(),
        contact=contact_of(m["contact"]), confirmation_number=m["confirmation_number"],
        plan_type=m["plan_type"], authorization_text=terms,
        first_draft_amount_cents=first_draft_cents)


def autopay_upcoming(m: Mapping[str, Any], draft_date: date, cycle: str, amount_cents: int,
                     previous_cents: int | None, reason: str,
                     cancel_by: date) -> ev.AutopayUpcomingData:
    """Regulation E's notice of the draft on `draft_date` (`m`: a mandate row with its
    method's type, last4 and brand)."""
    notice_range = None
    if m["notice_low_cents"] is not None and m["notice_high_cents"] is not None:
        notice_range = ev.NoticeRange(low_cents=m["notice_low_cents"],
                                      high_cents=m["notice_high_cents"])
    return ev.AutopayUpcomingData(
        mandate_id=str(m["mandate_id"]), billing_account_number=m["billing_account_number"],
        amount_cents=amount_cents, draft_date=draft_date.isoformat(),
        previous_amount_cents=previous_cents, contact=contact_of(m["contact"]),
        method=method_of(m), cycle=cycle, reason=reason, cancel_by=cancel_by.isoformat(),
        plan_type=m["plan_type"], notice_range=notice_range)


def autopay_cancelled(m: Mapping[str, Any], reason: str,
                      in_flight: Iterable[Mapping[str, Any]] = ()) -> ev.AutopayCancelledData:
    """`in_flight`: the mandate's drafts already made, which still happen (the member is told)."""
    return ev.AutopayCancelledData(
        mandate_id=str(m["mandate_id"]), billing_account_number=m["billing_account_number"],
        reason=reason, contact=contact_of(m["contact"]),
        drafts_in_flight=[draft_of(p) for p in in_flight])


def draft_of(p: Mapping[str, Any]) -> ev.DraftInFlight:
    return ev.DraftInFlight(payment_id=str(p["payment_id"]), amount_cents=p["amount_cents"],
                            expected_withdrawal_date=p["expected_withdrawal_date"].isoformat())


def autopay_updated(m: Mapping[str, Any], method: Mapping[str, Any], next_draft: date) -> ev.AutopayUpdatedData:
    return ev.AutopayUpdatedData(
        mandate_id=str(m["mandate_id"]), billing_account_number=m["billing_account_number"],
        method=method_of(method), next_draft_date=next_draft.isoformat(),
        reason="method_changed", contact=contact_of(m["contact"]))


def method_updated(method: Mapping[str, Any], status: str, reason: str) -> ev.MethodUpdatedData:
    return ev.MethodUpdatedData(
        method_id=str(method["method_id"]),
        billing_account_number=method["billing_account_number"],
        method=method_of(method), status=status, reason=reason)


def refund_requested(r: Mapping[str, Any]) -> ev.RefundRequestedData:
    return ev.RefundRequestedData(
        refund_id=str(r["refund_id"]), confirmation_number=r["confirmation_number"],
        billing_account_number=r["billing_account_number"], amount_cents=r["amount_cents"],
        method=method_of(r), status=r["status"], requested_on=r["requested_on"].isoformat(),
        contact=contact_of(r["contact"]))


def refund_issued(r: Mapping[str, Any]) -> ev.RefundIssuedData:
    return ev.RefundIssuedData(
        refund_id=str(r["refund_id"]), confirmation_number=r["confirmation_number"],
        billing_account_number=r["billing_account_number"], amount_cents=r["amount_cents"],
        method=method_of(r), issued_on=r["issued_on"].isoformat(),
        effective_date=r["effective_date"].isoformat(), contact=contact_of(r["contact"]))


def refund_returned(r: Mapping[str, Any], reason: str) -> ev.RefundReturnedData:
    return ev.RefundReturnedData(
        refund_id=str(r["refund_id"]), confirmation_number=r["confirmation_number"],
        billing_account_number=r["billing_account_number"], amount_cents=r["amount_cents"],
        method=method_of(r), return_code=r["return_code"], return_reason=reason,
        returned_on=r["returned_on"].isoformat(), contact=contact_of(r["contact"]))


def refund_failed(r: Mapping[str, Any], failed_on: date) -> ev.RefundFailedData:
    return ev.RefundFailedData(
        refund_id=str(r["refund_id"]), confirmation_number=r["confirmation_number"],
        billing_account_number=r["billing_account_number"], amount_cents=r["amount_cents"],
        method=method_of(r), failure_code=r["failure_code"], failed_on=failed_on.isoformat(),
        contact=contact_of(r["contact"]))


def _allocs(p: Mapping[str, Any]) -> list[dict[str, int]]:
    a = p["allocations"]
    return a if isinstance(a, list) else orjson.loads(a)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


# ------------------------------------------------------------------ account validation
def _validation_ids(v: Mapping[str, Any], m: Mapping[str, Any]) -> dict[str, Any]:
    return {"validation_id": str(v["validation_id"]), "method_id": str(v["method_id"]),
            "billing_account_number": v["billing_account_number"], "method": method_of(m)}


def validation_started(v: Mapping[str, Any], m: Mapping[str, Any]) -> ev.AccountValidationStartedData:
    return ev.AccountValidationStartedData(**_validation_ids(v, m), kind=v["kind"],
                                           requested_on=v["requested_on"].isoformat(),
                                           contact=contact_of(v["contact"]))


def micro_entries_sent(v: Mapping[str, Any], m: Mapping[str, Any],
                       tries_max: int) -> ev.AccountMicroEntriesSentData:
    return ev.AccountMicroEntriesSentData(**_validation_ids(v, m),
                                          available_on=v["effective_date"].isoformat(),
                                          tries_max=tries_max, contact=contact_of(v["contact"]))


def validated(v: Mapping[str, Any], m: Mapping[str, Any], day: date) -> ev.AccountValidatedData:
    return ev.AccountValidatedData(**_validation_ids(v, m), kind=v["kind"], validated_on=day.isoformat())


def validation_failed(v: Mapping[str, Any], m: Mapping[str, Any], day: date, reason: str,
                      return_code: str | None) -> ev.AccountValidationFailedData:
    return ev.AccountValidationFailedData(**_validation_ids(v, m), kind=v["kind"], reason=reason,
                                          return_code=return_code, failed_on=day.isoformat(),
                                          contact=contact_of(v["contact"]))
