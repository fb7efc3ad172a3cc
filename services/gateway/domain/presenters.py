"""What the member sees, from what the services answer: integer cents become decimal
strings, billing's lines become the account summary (total owed, this month's premium, the
due date). Pure functions, no I/O."""
from __future__ import annotations

from datetime import date
from typing import Any

from shared.money import format_cents


def money(cents: int | None) -> str | None:
    return None if cents is None else format_cents(int(cents))


def public_line(line: dict[str, Any]) -> dict[str, Any]:
    return {"coverage_year": line["coverage_year"], "plan_name": line.get("plan_name", ""),
            "carrier": line.get("carrier"), "balance": money(line.get("balance_cents", 0)),
            "current_premium": money(line.get("current_premium_cents", 0)),
            "due_date": line.get("due_date"), "status": line.get("status", "")}


def with_pending(summary: dict[str, Any], total_cents: int | None,
                 pending: dict[str, Any] | None) -> dict[str, Any]:
    """The payments on their way (payments' own record of them) beside billing's balance,
    which shows them only once they settle: what is still left to pay is the difference,
    never below zero. Unknown (None) while either side does not answer."""
    if pending is None:
        summary.update(pending_total=None, amount_due_now=None, pending_payments=[])
        return summary
    pending_cents = int(pending.get("pending_total_cents") or 0)
    summary["pending_total"] = money(pending_cents)
    summary["amount_due_now"] = None if total_cents is None else money(max(total_cents - pending_cents, 0))
    summary["pending_payments"] = [
        {"payment_id": p["payment_id"], "amount": money(p["amount_cents"]),
         "expected_withdrawal_date": p.get("expected_withdrawal_date"),
         "retry": int(p.get("attempt") or 1) > 1} for p in pending.get("payments", [])]
    return summary


def summarize(account: dict[str, Any], today: date) -> dict[str, Any]:
    """Billing's account as the member sees it on `today` (the business date): total owed,
    this month's premium, due date."""
    lines = sorted(account.get("lines", []), key=lambda x: x["coverage_year"])
    this_year = today.year
    current = [x for x in lines if x["coverage_year"] == this_year] or lines[:1]
    due = sorted(x["due_date"] for x in lines if x.get("due_date") and x.get("balance_cents", 0) > 0)
    due = due or sorted(x["due_date"] for x in lines if x.get("due_date"))
    return {"billing_account_number": account["billing_account_number"],
            "plan_type": account.get("plan_type"), "status": account.get("status"),
            "total_balance": money(account.get("total_balance_cents", 0)),
            "credit": money(max(int(account.get("credit_cents") or 0), 0)),
            "current_premium": money(sum(x.get("current_premium_cents", 0) for x in current)),
            "due_date": due[0] if due else None,
            "lines": [public_line(x) for x in lines],
            "coverage": public_coverage(account.get("coverage")),
            "delinquency": public_delinquency(account.get("delinquency")),
            "payment_plan": public_plan(account.get("payment_plan")),
            "payment_plan_offer": public_plan_offer(account.get("payment_plan_offer")),
            "reinstatement": public_reinstatement(account.get("reinstatement"))}


def _with_money(d: dict[str, Any]) -> dict[str, Any]:
    """Every `x_cents` field as `x`, a decimal string; the rest unchanged."""
    return {(k.removesuffix("_cents") if k.endswith("_cents") else k):
            (money(v) if k.endswith("_cents") else v) for k, v in d.items()}


def public_coverage(c: dict[str, Any] | None) -> dict[str, Any] | None:
    """The coverage clock: paid-through date, the grace period's kind and length, the day to
    pay by to stay current and the latest day to pay to keep coverage (and what is owed by
    then), and what happens when that day passes unpaid."""
    if not c:
        return None
    return _with_money({k: c.get(k) for k in (
        "paid_through", "grace_type", "grace_months", "pay_by", "keep_coverage_by",
        "ends_if_unpaid", "starts_on", "amount_to_keep_cents")})


def public_delinquency(d: dict[str, Any] | None) -> dict[str, Any] | None:
    return _with_money(d) if d else None


def public_plan(p: dict[str, Any] | None) -> dict[str, Any] | None:
    """A hardship payment plan: each installment a due amount, with its standing."""
    if not p:
        return None
    out = _with_money({k: v for k, v in p.items() if k != "schedule"})
    out["schedule"] = [_with_money(i) for i in p.get("schedule", [])]
    out["next_installment"] = next((i for i in out["schedule"] if i["status"] in ("due", "missed")),
                                   None)
    return out


def public_reinstatement(r: dict[str, Any] | None) -> dict[str, Any] | None:
    """After a termination for non-payment: the amount that reinstates, the last day to pay
    it, whether that day has passed, the coverage it restores and what is billed after."""
    if not r:
        return None
    out = _with_money({k: v for k, v in r.items() if k != "restores"})
    out["restores"] = [_with_money({k: v for k, v in line.items() if k != "enrollment_id"})
                       for line in r.get("restores", [])]
    return out


def public_plan_offer(o: dict[str, Any] | None) -> dict[str, Any] | None:
    return _with_money(o) if o else None


def public_mandate(m: dict[str, Any] | None) -> dict[str, Any] | None:
    """The recurring payment: its own confirmation number, the next draft date, the
    authorization kept, and the drafts already made that are still on their way."""
    if not m:
        return None
    return {"mandate_id": m.get("mandate_id"), "confirmation_number": m.get("confirmation_number"),
            "status": m.get("status"), "method": m.get("method"),
            "draft_day": m.get("draft_day"), "next_draft_date": m.get("next_draft_date"),
            "created_at": m.get("created_at"),
            "authorization_text": (m.get("authorization") or {}).get("text"),
            "drafts_in_flight": [_with_money(d) for d in m.get("drafts_in_flight") or []],
            "cancellation": m.get("cancellation"),
            "notice_range": _with_money(m["notice_range"]) if m.get("notice_range") else None}


def public_cancellation(c: dict[str, Any]) -> dict[str, Any]:
    return {"status": c.get("status"), "mandate_id": c.get("mandate_id"),
            "confirmation_number": c.get("confirmation_number"),
            "drafts_in_flight": [_with_money(d) for d in c.get("drafts_in_flight") or []]}


def public_payment(p: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in p.items() if not k.endswith("_cents")}
    for k, v in p.items():
        if k.endswith("_cents") and isinstance(v, int):
            out[k.removesuffix("_cents")] = money(v)
    return out


def public_payment_result(r: dict[str, Any]) -> dict[str, Any]:
    out = {"payment_id": r.get("payment_id"), "confirmation_number": r.get("confirmation_number"),
           "status": r.get("status"), "amount": money(r.get("amount_cents")),
           "expected_withdrawal_date": r.get("expected_withdrawal_date")}
    if r.get("mandate_id"):
        out["mandate_id"] = r["mandate_id"]
    if r.get("account_validation"):  # a bank account new to the system: checked first
        out["account_validation"] = r["account_validation"]
    if r.get("binder_deadline"):  # a binder sent sooner (or Same Day ACH) to meet its due date
        out["binder_deadline"] = r["binder_deadline"]
    if r.get("autopay"):  # a recurring set-up: its own number, first draft and the terms
        out["autopay"] = {k: r["autopay"].get(k) for k in (
            "confirmation_number", "first_draft_date", "draft_day", "authorization_text")}
    return out


def returned_payment(payments: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The payment the member must hear about: the newest payment that finished, when its
    bank returned it (a later settled payment closes the matter), with the date an R01/R09
    retry of it is expected to be withdrawn, if one is on its way. `payments` newest first."""
    done = [p for p in payments if p.get("status") not in ("pending", "originated")]
    if not done or done[0].get("status") != "returned":
        return None
    returned = done[0]
    retries = [p for p in payments if p.get("status") in ("pending", "originated")
               and int(p.get("attempt") or 1) > int(returned.get("attempt") or 1)]
    return {"payment_id": returned.get("payment_id"), "amount": returned.get("amount"),
            "returned_on": returned.get("returned_on"),
            "retry_date": retries[-1].get("expected_withdrawal_date") if retries else None}


def public_refund(r: dict[str, Any]) -> dict[str, Any]:
    """A refund of credit as the member sees it: the method by type and last four only."""
    return {"refund_id": r["refund_id"], "confirmation_number": r["confirmation_number"],
            "amount": money(r["amount_cents"]), "status": r["status"],
            "method": {k: v for k, v in r["method"].items() if k in ("type", "last4", "brand")},
            "requested_on": r.get("requested_on"), "effective_date": r.get("effective_date"),
            "returned_on": r.get("returned_on")}
