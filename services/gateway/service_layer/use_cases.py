"""The gateway's use cases, shared by the JSON API and the portal: each calls the services
(in parallel where it can), maps cents to decimal strings and degrades to a partial answer
with a notice when a service does not answer."""
from __future__ import annotations

import asyncio
import secrets
import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from services.gateway.adapters.store import Store
from services.gateway.adapters.upstream import Refused, ServiceDown, Upstreams
from services.gateway.config import Settings
from services.gateway.domain import tokens
from services.gateway.domain.presenters import (
    money,
    public_cancellation,
    public_line,
    public_mandate,
    public_payment,
    public_payment_result,
    public_plan,
    public_refund,
    returned_payment,
    summarize,
    with_pending,
)
from services.gateway.schemas import (
    AutopayRequest,
    ContactUpdate,
    LookupRequest,
    MemberRequest,
    PaymentRequest,
)
from services.gateway.service_layer import errors
from services.gateway.service_layer.account_cache import AccountCache
from shared.calendar import business_today
from shared.errors import InvalidInput

NOTICE = {
    "billing": "Balances are not available right now. Please try again in a few minutes.",
    "payments": "Payment details are not available right now. Please try again in a few minutes.",
    "identity": "Your profile is not available right now. Please try again in a few minutes.",
    "notify": "Notification details are not available right now.",
}


def upstream_path(*segments: str) -> str:
    """An internal API path from quoted segments: whatever a caller typed into an id stays
    one segment ("../accounts" is "..%2Faccounts"), and "." or ".." never walk the path."""
    if any(str(seg) in ("", ".", "..") for seg in segments):
        raise errors.NotFound()
    return "".join("/" + quote(str(seg), safe="") for seg in segments)


# How long a refund waits for payments to record a credit billing already shows: about 5 s.
REFUND_CATCH_UP_PAUSES_S = (0.25, 0.5, 0.75, 1.0, 1.25, 1.25)


def unavailable(service: str) -> errors.Unavailable:
    return errors.Unavailable(service)


class UseCases:
    def __init__(self, settings: Settings, upstreams: Upstreams, store: Store | None,
                 signer: tokens.Signer, cache: AccountCache | None = None) -> None:
        self.settings = settings
        self.cache = cache or AccountCache(ttl_s=0, settle_s=0, max_entries=1)
        self.up = upstreams
        self.store = store
        self.signer = signer
        self._config: tuple[float, dict[str, Any]] | None = None
        self._verified: dict[str, dict[str, Any]] = {}

    # -- program configuration -------------------------------------------------------
    async def payments_config(self) -> dict[str, Any]:
        """payments' GET /config (cards enabled, program), cached for a minute."""
        if self._config and self._config[0] > time.monotonic():
            return self._config[1]
        try:
            config = await self.up.call("payments", "GET", "/config")
        except (ServiceDown, Refused):
            return {"cards_enabled": False, "program": self.settings.program_name}
        self._config = (time.monotonic() + 60, config)
        return config

    # -- guest lookup ------------------------------------------------------------------
    async def lookup(self, req: LookupRequest, client_ip: str) -> dict[str, Any]:
        body = req.model_dump(exclude={"captcha"})
        body["client_ip"] = client_ip
        try:
            found = await self.up.call("identity", "POST", "/lookups", json=body)
        except ServiceDown:
            raise unavailable("identity") from None
        ban = found["billing_account_number"]
        token = self.signer.sign(tokens.LOOKUP, {"ban": ban, "plan_type": found.get("plan_type"),
                                                 "member_id": found.get("member_id")},
                                 self.settings.lookup_token_ttl_s)
        try:
            summary = await self.account_summary(ban)
        except (Refused, errors.NotFound) as exc:
            if isinstance(exc, Refused) and exc.status != 404:
                raise
            raise errors.AccountNotReady() from None
        expires = datetime.fromtimestamp(time.time() + self.settings.lookup_token_ttl_s, timezone.utc)
        return {"lookup_token": token, "expires_at": expires.isoformat(timespec="seconds"),
                "billing_account_number": ban, "plan_type": found.get("plan_type") or req.plan_type,
                "first_name": found.get("first_name"),
                "contact": found.get("contact") or {},
                "lines": summary["lines"], "total_balance": summary["total_balance"] or "0.00",
                "pending_total": summary["pending_total"], "amount_due_now": summary["amount_due_now"],
                "pending_payments": summary["pending_payments"],
                "current_premium": summary["current_premium"], "due_date": summary["due_date"],
                "notices": summary["notices"]}

    async def payable_reminder(self, channel: str, recipient: str, language: str,
                               payable_at: str) -> dict[str, Any]:
        """Ask notify to email or text this person once, when their plan becomes payable."""
        body = {"channel": channel, "language": language, "payable_at": payable_at,
                ("email" if channel == "email" else "phone"): recipient}
        try:
            return await self.up.call("notify", "POST", "/payable-reminders", json=body)
        except ServiceDown:
            raise unavailable("notify") from None

    def verify_lookup_token(self, token: str) -> dict[str, Any]:
        # A guest's page reuses one token for many calls: remember the verified ones (the
        # expiry is still checked on every use; the cache is bounded).
        payload = self._verified.get(token)
        if payload is None or payload["exp"] < time.time():
            try:
                payload = self.signer.verify(tokens.LOOKUP, token)
            except tokens.InvalidToken:
                raise errors.LookupExpired() from None
            if len(self._verified) >= 10_000:
                self._verified.clear()
            self._verified[token] = payload
        return payload

    # -- account reads -----------------------------------------------------------------
    async def account_summary(self, ban: str) -> dict[str, Any]:
        """The account's summary, from the account cache while its copy is current."""
        return await self.cache.get(ban, lambda: self._fetch_summary(ban),
                                    keep=lambda summary: not summary["notices"])

    async def _fetch_summary(self, ban: str) -> dict[str, Any]:
        """Billing's balances and payments' autopay and payments on their way (one call
        each), fetched in parallel; a partial answer with a notice when one of them does
        not answer."""
        account, standing = await asyncio.gather(
            self.up.call("billing", "GET", upstream_path("accounts", ban)),
            self.up.call("payments", "GET", upstream_path("accounts", ban, "standing")),
            return_exceptions=True)
        notices: list[dict[str, str]] = []
        total_cents: int | None = None
        if isinstance(account, Refused):
            raise account
        if isinstance(account, BaseException):
            notices.append({"service": "billing", "message": NOTICE["billing"]})
            summary = {"billing_account_number": ban, "plan_type": None, "status": None,
                       "total_balance": None, "current_premium": None, "due_date": None,
                       "lines": [], "coverage": None, "delinquency": None, "payment_plan": None,
                       "payment_plan_offer": None}
            try:  # payments keeps a projection of what is owed: better than nothing
                owed = await self.up.call("payments", "GET", upstream_path("accounts", ban, "owed"))
                total_cents = owed.get("total_balance_cents")
                summary["total_balance"] = money(total_cents)
                summary["lines"] = [public_line(x) for x in owed.get("lines", []) if "coverage_year" in x]
            except (ServiceDown, Refused):
                pass
        else:
            summary = summarize(account, business_today())
            total_cents = int(account.get("total_balance_cents") or 0)
        if isinstance(standing, BaseException):
            notices.append({"service": "payments", "message": NOTICE["payments"]})
            standing = {"autopay": None, "pending": None}
        with_pending(summary, total_cents, standing["pending"])
        summary["autopay"] = public_mandate(standing["autopay"]) if standing["autopay"] else None
        summary["notices"] = notices
        return summary

    async def payment_history(self, ban: str) -> dict[str, Any]:
        try:
            data = await self.up.call("payments", "GET", upstream_path("accounts", ban, "payments"))
        except ServiceDown:
            return {"payments": [], "notices": [{"service": "payments", "message": NOTICE["payments"]}]}
        return {"payments": [public_payment(p) for p in data.get("payments", [])], "notices": []}

    async def invoices(self, ban: str) -> dict[str, Any]:
        try:
            data = await self.up.call("billing", "GET", upstream_path("accounts", ban, "invoices"))
        except ServiceDown:
            return {"invoices": [], "notices": [{"service": "billing", "message": NOTICE["billing"]}]}
        invoices = [{**i, "amount": money(i.get("amount_cents", 0)), "paid": money(i.get("paid_cents", 0))}
                    for i in data.get("invoices", [])]
        return {"invoices": invoices, "notices": []}

    async def statement(self, ban: str, month: str) -> dict[str, Any]:
        """The month's statement figures (billing's ledger); 404 for a month billing refuses."""
        try:
            return await self.up.call("billing", "GET", upstream_path("accounts", ban, "statements", month))
        except ServiceDown:
            raise unavailable("billing") from None

    async def payment_plan(self, ban: str) -> dict[str, Any]:
        """The account's latest hardship payment plan (404 `no_payment_plan` when none)."""
        try:
            return public_plan(await self.up.call("billing", "GET", upstream_path("accounts", ban, "payment-plan")))
        except ServiceDown:
            raise unavailable("billing") from None

    async def create_payment_plan(self, ban: str, months: int) -> dict[str, Any]:
        """Spread what is past due over `months` installments (billing decides whether it can)."""
        try:
            plan = await self.up.call("billing", "POST", upstream_path("accounts", ban, "payment-plan"),
                                      json={"months": months})
        except ServiceDown:
            raise unavailable("billing") from None
        finally:
            self.cache.invalidate(ban, "gateway")
        return public_plan(plan)

    async def methods(self, ban: str) -> list[dict[str, Any]]:
        try:
            return (await self.up.call("payments", "GET", upstream_path("accounts", ban, "methods"))).get("methods", [])
        except (ServiceDown, Refused, errors.NotFound):
            return []

    async def find_method(self, bans: list[str], method_id: str) -> tuple[str, dict[str, Any]]:
        """The member's saved method with this id and the account that holds it (404 when
        none of `bans` has it)."""
        for ban in bans:
            try:
                listed = await self.up.call("payments", "GET", upstream_path("accounts", ban, "methods"))
            except ServiceDown:
                raise unavailable("payments") from None
            for m in listed.get("methods", []):
                if m.get("method_id") == method_id:
                    return ban, m
        raise errors.NoMethod()

    async def method_validation(self, bans: list[str], method_id: str) -> tuple[str, dict, dict]:
        """The member's saved bank account, the account that holds it and its validation."""
        ban, method = await self.find_method(bans, method_id)
        try:
            v = await self.up.call("payments", "GET",
                                   upstream_path("accounts", ban, "methods", method_id, "validation"))
        except ServiceDown:
            raise unavailable("payments") from None
        return ban, method, v

    async def confirm_method_validation(self, bans: list[str], method_id: str,
                                        amounts: list[str]) -> dict[str, Any]:
        """The two micro-entry amounts the member read on their statement (payments
        answers 422 for a wrong answer, 409 no_validation when there is nothing to confirm)."""
        ban, _ = await self.find_method(bans, method_id)
        try:
            return await self.up.call("payments", "POST",
                                      upstream_path("accounts", ban, "methods", method_id, "validation"),
                                      json={"amounts": amounts})
        except ServiceDown:
            raise unavailable("payments") from None

    async def remove_method(self, bans: list[str], method_id: str) -> dict[str, Any]:
        """Removes one of the member's saved methods (payments keeps it for the history of
        the payments made with it); 409 method_in_use while autopay draws from it."""
        ban, _ = await self.find_method(bans, method_id)
        try:
            result = await self.up.call("payments", "DELETE",
                                        upstream_path("accounts", ban, "methods", method_id))
        except ServiceDown:
            raise unavailable("payments") from None
        return {**result, "billing_account_number": ban}

    # -- payments ------------------------------------------------------------------------
    async def submit_payment(self, req: PaymentRequest, idempotency_key: str, channel: str,
                             member_id: str | None) -> tuple[int, dict[str, Any]]:
        await self.refuse_cards_unless_enabled(req.method.type)
        body = req.model_dump(exclude={"captcha"}, exclude_none=True)
        body.update(idempotency_key=idempotency_key, channel=channel)
        if member_id:
            body["member_id"] = member_id
        try:
            status, result = await self.up.call("payments", "POST", "/payments", json=body,
                                                timeout_s=self.settings.payment_timeout_s,
                                                with_status=True)
        except ServiceDown:
            raise unavailable("payments") from None
        except Refused as exc:
            if exc.code != "amount_changed":
                raise
            raise errors.AmountChanged(exc.message, money(exc.extra.get("current_amount_cents"))) from None
        finally:  # even a payment that timed out may have been taken
            self.cache.invalidate(req.billing_account_number, "gateway")
        # payments answers a replayed key with 200 and the first answer: passed on as such.
        return (200 if status == 200 else 201), public_payment_result(result)

    async def request_refund(self, ban: str, amount: str, idempotency_key: str) -> tuple[int, dict[str, Any]]:
        """The member asks for the account's credit back (payments checks it against the
        credit, once per idempotency key). Payments learns of a credit from billing's events
        a moment after billing shows it: refused as over a credit that billing already
        shows, the request is asked again (the same key: never two refunds) for a few
        seconds, then answered `credit_not_recorded` rather than "more than your credit"."""
        body = {"amount": amount, "idempotency_key": idempotency_key}
        try:
            for pause_s in (*REFUND_CATCH_UP_PAUSES_S, None):
                try:
                    status, result = await self.up.call(
                        "payments", "POST", upstream_path("accounts", ban, "refunds"), json=body,
                        with_status=True)
                    break
                except Refused as exc:
                    if exc.code != "refund_over_credit" or not await self._billing_credit_exceeds(
                            ban, exc.extra.get("available_cents")):
                        raise
                    if pause_s is None:
                        raise errors.CreditNotRecorded() from None
                    await asyncio.sleep(pause_s)
        except ServiceDown:
            raise unavailable("payments") from None
        finally:
            self.cache.invalidate(ban, "gateway")
        return (200 if status == 200 else 201), public_refund(result)

    async def _billing_credit_exceeds(self, ban: str, available_cents: Any) -> bool:
        """Billing's credit on the account, less the refunds asked for and not yet issued
        (billing books a refund once issued), is more than payments counted: payments' copy
        of the balance lags."""
        if not isinstance(available_cents, int):
            return False
        try:
            account, listed = await asyncio.gather(
                self.up.call("billing", "GET", upstream_path("accounts", ban)),
                self.up.call("payments", "GET", upstream_path("accounts", ban, "refunds")))
        except (ServiceDown, Refused):
            return False
        waiting = sum(int(r.get("amount_cents") or 0) for r in listed.get("refunds", [])
                      if r.get("status") in ("pending_approval", "approved"))
        return int(account.get("credit_cents") or 0) - waiting > available_cents

    async def refunds(self, ban: str) -> dict[str, Any]:
        try:
            data = await self.up.call("payments", "GET", upstream_path("accounts", ban, "refunds"))
        except ServiceDown:
            raise unavailable("payments") from None
        return {"refunds": [public_refund(r) for r in data.get("refunds", [])]}

    async def refuse_cards_unless_enabled(self, method_type: str) -> None:
        """The program setting (payments' /config) decides whether cards are taken at all."""
        if method_type == "card" and not (await self.payments_config()).get("cards_enabled"):
            raise InvalidInput(fields={"method.type": "Cards are not accepted. Pay from a checking or savings account."})

    async def payment(self, payment_id: str) -> dict[str, Any]:
        try:
            return public_payment(await self.up.call("payments", "GET", upstream_path("payments", payment_id)))
        except ServiceDown:
            raise unavailable("payments") from None

    async def create_autopay(self, ban: str, req: AutopayRequest, idempotency_key: str,
                             member_id: str | None) -> dict[str, Any]:
        await self.refuse_cards_unless_enabled(req.method.type)
        body = {"idempotency_key": idempotency_key, "method": req.method.model_dump(),
                "contact": req.contact.model_dump()}
        if req.terms_language:
            body["terms_language"] = req.terms_language
        if req.notice_range:
            body["notice_range"] = req.notice_range.model_dump()
        if member_id:
            body["member_id"] = member_id
        try:
            mandate = await self.up.call("payments", "POST", upstream_path("accounts", ban, "autopay"), json=body,
                                         timeout_s=self.settings.payment_timeout_s)
        except ServiceDown:
            raise unavailable("payments") from None
        finally:
            self.cache.invalidate(ban, "gateway")
        return public_mandate(mandate)

    async def change_autopay_method(self, ban: str, method: Any) -> dict[str, Any]:
        """The same monthly mandate, drawn from another bank account from now on."""
        await self.refuse_cards_unless_enabled(method.type)
        try:
            mandate = await self.up.call("payments", "PUT", upstream_path("accounts", ban, "autopay", "method"),
                                         json={"method": method.model_dump()},
                                         timeout_s=self.settings.payment_timeout_s)
        except ServiceDown:
            raise unavailable("payments") from None
        finally:
            self.cache.invalidate(ban, "gateway")
        return public_mandate(mandate)

    async def autopay_terms(self, ban: str, language: str = "en") -> dict[str, Any]:
        """The authorization a recurring set-up asks the member to agree to, in their language
        (en, es), and its first draft date (payments' terms), for the page before the set-up
        is submitted."""
        lang = language if language in ("en", "es") else "en"
        try:
            return await self.up.call("payments", "GET", upstream_path("accounts", ban, "autopay", "terms"),
                                      params={"language": lang})
        except ServiceDown:
            raise unavailable("payments") from None

    async def cancel_autopay(self, ban: str) -> dict[str, Any]:
        try:
            return public_cancellation(await self.up.call("payments", "DELETE",
                                                          upstream_path("accounts", ban, "autopay")))
        except ServiceDown:
            raise unavailable("payments") from None
        finally:
            self.cache.invalidate(ban, "gateway")

    # -- portal accounts -------------------------------------------------------------------
    async def register(self, req: MemberRequest, client_ip: str) -> dict[str, Any]:
        body = req.model_dump()
        body["client_ip"] = client_ip
        return await self._identity("POST", "/members", body, self.settings.password_timeout_s)

    async def login(self, username: str, password: str, client_ip: str) -> tuple[str, dict[str, Any]]:
        """Checks the password with identity and opens a session; returns the cookie value."""
        member = await self._identity("POST", "/sessions", {"username": username, "password": password,
                                                             "client_ip": client_ip},
                                      self.settings.password_timeout_s)
        profile = await self.member(member["member_id"])
        session_id = secrets.token_urlsafe(32)
        assert self.store is not None
        await self.store.create_session(tokens.hash_session_id(session_id), member["member_id"],
                                        member.get("username", username),
                                        {"accounts": [a["billing_account_number"]
                                                      for a in profile.get("accounts", [])]},
                                        self.settings.session_ttl_s)
        return session_id, member

    async def logout(self, session_id: str) -> None:
        assert self.store is not None
        await self.store.delete_session(tokens.hash_session_id(session_id))

    async def password_reset(self, username: str | None, email: str | None) -> None:
        # identity builds the link from its own PUBLIC_URL setting, never from a request.
        await self._identity("POST", "/password-resets", {"username": username, "email": email})

    async def username_reminder(self, email: str) -> None:
        await self._identity("POST", "/username-reminders", {"email": email})

    async def reset_link_state(self, token: str) -> str:
        """'usable', 'used', 'expired' or 'unknown'; 'usable' when identity cannot say (the
        form then answers as before)."""
        try:
            return (await self._identity("POST", "/password-resets/check", {"token": token})).get("state", "usable")
        except Refused:
            return "usable"

    async def confirm_reset(self, token: str, new_password: str, keep_session_id: str | None = None) -> None:
        """Set the new password, then end every session of the member but this request's."""
        done = await self._identity("POST", "/password-resets/confirm",
                                    {"token": token, "new_password": new_password},
                                    self.settings.password_timeout_s)
        assert self.store is not None
        keep = tokens.hash_session_id(keep_session_id) if keep_session_id else None
        await self.store.end_member_sessions(done["member_id"], keep)

    async def member(self, member_id: str) -> dict[str, Any]:
        return await self._identity("GET", upstream_path("members", member_id))

    async def update_contact(self, member_id: str, update: ContactUpdate) -> dict[str, Any]:
        body = update.model_dump(exclude_none=True)
        if "phone" in update.model_fields_set and update.phone is None:
            body["phone"] = None   # given empty: the member removed their number
        slow = "current_password" in body or "new_password" in body  # a password is checked
        return await self._identity("PATCH", upstream_path("members", member_id, "contact"), body,
                                    self.settings.password_timeout_s if slow else None)

    async def me(self, member_id: str) -> dict[str, Any]:
        """Everything the dashboard shows, every account's calls in parallel."""
        profile = await self.member(member_id)
        bans = [a["billing_account_number"] for a in profile.get("accounts", [])]
        summaries, histories, methods = await asyncio.gather(
            asyncio.gather(*(self.account_summary(b) for b in bans), return_exceptions=True),
            asyncio.gather(*(self.payment_history(b) for b in bans)),
            asyncio.gather(*(self.methods(b) for b in bans)))
        accounts, notices = [], []
        for ban, summary, history, meth in zip(bans, summaries, histories, methods):
            if isinstance(summary, BaseException):
                summary = {"billing_account_number": ban, "lines": [], "autopay": None,
                           "notices": [{"service": "billing", "message": NOTICE["billing"]}]}
            for n in summary.pop("notices", []) + history.get("notices", []):
                if n not in notices:
                    notices.append(n)
            accounts.append({**summary, "payments": history["payments"], "methods": meth,
                             "returned_payment": returned_payment(history["payments"])})
        return {"member_id": member_id, "username": profile.get("username"),
                "first_name": profile.get("first_name"), "last_name": profile.get("last_name"),
                "contact": profile.get("contact", {}), "accounts": accounts, "notices": notices}

    async def _identity(self, method: str, path: str, body: Any = None,
                        timeout_s: float | None = None) -> dict[str, Any]:
        try:
            return await self.up.call("identity", method, path, json=body, timeout_s=timeout_s)
        except ServiceDown:
            raise unavailable("identity") from None
