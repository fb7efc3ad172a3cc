"""Events exactly as docs/events.md shapes them, for one test household."""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from shared.contracts.envelope import Envelope

PRODUCER = {"enrollment": "enrollment", "member": "identity", "password": "identity",
            "username": "identity", "account": "billing", "invoice": "billing",
            "balance": "billing", "coverage": "billing"}


def event(event_type: str, key: str, data: dict, *, occurred_at: datetime | None = None) -> Envelope:
    prefix = event_type.split(".")[0]
    producer = PRODUCER.get(prefix, "payments")
    kwargs = {"occurred_at": occurred_at} if occurred_at else {}
    return Envelope(event_type=event_type, producer=producer, key=key, data=data, **kwargs)


@dataclass
class Household:
    language: str = "en"
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    def __post_init__(self) -> None:
        self.household_id = f"HH-{self.tag}"
        self.ban = "7" + "".join(random.choice("0123456789") for _ in range(9))
        self.email = f"m{self.tag}@example.org"
        self.new_email = f"new{self.tag}@example.org"
        self.phone = f"617555{random.randint(0, 9999):04d}"
        self.member_id = f"M-{self.tag}"
        self.first_name = "María" if self.language == "es" else "Maria"
        self.contact = {"email": self.email, "phone": self.phone, "language": self.language}
        self.payer_email = f"payer{self.tag}@example.org"  # a program paying for the member

    def enrollment(self) -> Envelope:
        return event("enrollment.created", self.household_id, {
            "enrollment_id": f"33{random.randint(10**8, 10**9 - 1)}",
            "household_id": self.household_id, "plan_type": "health", "coverage_year": 2027,
            "coverage_start": "2027-01-01", "plan_name": "Silver", "carrier": "Carrier",
            "premium_cents": 25000, "aptc": True,
            "shopped_at": datetime.now(timezone.utc).isoformat(),
            "subscriber": {"first_name": self.first_name, "last_name": "Santos",
                           "date_of_birth": "1984-03-15", "ssn": "123456789"},
            "contact": self.contact})

    def account_opened(self) -> Envelope:
        return event("account.opened", self.ban, {
            "billing_account_number": self.ban, "household_id": self.household_id,
            "plan_type": "health", "enrollment_ids": ["331"], "coverage_years": [2027],
            "aptc": True})

    def member_registered(self) -> Envelope:
        return event("member.registered", self.member_id, {
            "member_id": self.member_id, "username": f"user{self.tag}",
            "first_name": self.first_name, "last_name": "Santos",
            "billing_account_numbers": [self.ban], "email": self.email, "phone": self.phone,
            "language": self.language})

    def contact_changed(self, *, email_enabled: bool, sms_enabled: bool,
                        phone: str | None = None) -> Envelope:
        return event("member.contact_changed", self.member_id, {
            "member_id": self.member_id, "billing_account_numbers": [self.ban],
            "email": self.email, "phone": phone or self.phone, "language": self.language,
            "email_enabled": email_enabled, "sms_enabled": sms_enabled})

    def payment_submitted(self, confirmation: str, amount_cents: int = 123456,
                          channel: str = "guest", **extra) -> Envelope:
        return event("payment.submitted", self.ban, {
            "payment_id": str(uuid.uuid4()), "confirmation_number": confirmation,
            "billing_account_number": self.ban, "plan_type": "health", "kind": "one_time",
            "amount_cents": amount_cents, "allocations": [{"coverage_year": 2027, "amount_cents": amount_cents}],
            "method": {"type": "checking", "last4": "6789"},
            "expected_withdrawal_date": "2026-11-25", "mandate_id": None,
            "contact": self.contact, "channel": channel, **extra})

    def all_message_events(self, confirmation: str) -> list[Envelope]:
        ban, method = self.ban, {"type": "checking", "last4": "6789"}
        pay = {"payment_id": str(uuid.uuid4()), "confirmation_number": confirmation,
               "billing_account_number": ban, "amount_cents": 123456, "method": method,
               "contact": self.contact}
        grace = {"billing_account_number": ban, "aptc": True, "past_due_cents": 50000,
                 "grace_start": "2027-02-01", "grace_end": "2027-04-30", "month_of_grace": 2}
        check = {**pay, "payment_id": str(uuid.uuid4()), "confirmation_number": f"PMT-CHK{self.tag}",
                 "amount_cents": 31000, "method": {"type": "check", "last4": "1234"},
                 "allocations": [], "contact": {"email": None, "phone": None, "language": "en"}}
        payer = {"kind": "ryan_white", "name": "Boston Health Care", "email": self.payer_email}
        return [
            # Paid by a Ryan White program: the member's receipt names it, the program gets its own.
            self.payment_submitted(confirmation, payer=payer),
            event("payment.settled", ban, {**pay, "allocations": [], "settled_on": "2026-11-27"}),
            # A check received through the lockbox: one receipt, its settlement nothing more.
            event("payment.submitted", ban, {**check, "plan_type": "health", "kind": "one_time",
                                             "expected_withdrawal_date": "2026-11-30",
                                             "mandate_id": None, "channel": "lockbox"}),
            event("payment.settled", ban, {**check, "settled_on": "2026-11-30", "kind": "one_time"}),
            event("payment.failed", ban, {**pay, "reason_code": "insufficient_funds",
                                          "reason": "insufficient funds"}),
            event("payment.returned", ban, {**pay, "return_code": "R01",
                                            "return_reason": "Insufficient funds",
                                            "returned_on": "2026-11-30", "will_retry": True,
                                            "method_disabled": False, "mandate_cancelled": False}),
            # The R01 above presented again: a retry, never a second "we received your payment".
            self.payment_submitted(confirmation, attempt=2, retry_of=pay["payment_id"],
                                   expected_withdrawal_date="2026-12-02"),
            event("refund.issued", ban, {"refund_id": str(uuid.uuid4()), "confirmation_number": f"RFD-{self.tag}",
                                         "billing_account_number": ban, "amount_cents": 1234, "method": method,
                                         "issued_on": "2026-12-01", "effective_date": "2026-12-02",
                                         "contact": self.contact}),
            event("refund.returned", ban, {"refund_id": str(uuid.uuid4()), "confirmation_number": f"RFD-R{self.tag}",
                                           "billing_account_number": ban, "amount_cents": 1234, "method": method,
                                           "return_code": "R03", "return_reason": "No account",
                                           "returned_on": "2026-12-04", "contact": self.contact}),
            event("refund.failed", ban, {"refund_id": str(uuid.uuid4()), "confirmation_number": f"RFD-F{self.tag}",
                                         "billing_account_number": ban, "amount_cents": 1234, "method": method,
                                         "failure_code": "amount_too_large", "failed_on": "2026-12-03",
                                         "contact": self.contact}),
            event("autopay.created", ban, {"mandate_id": f"MD-{self.tag}", "billing_account_number": ban,
                                           "method": method, "next_draft_date": "2026-12-22",
                                           "contact": self.contact, "confirmation_number": f"AUT-{self.tag}",
                                           "authorization_text": (
                                               f"Autorizo el débito para la cuenta de facturación {ban}."
                                               if self.language == "es" else
                                               f"I authorize the debit for billing account {ban}.")}),
            event("autopay.updated", ban, {"mandate_id": f"MD-{self.tag}", "billing_account_number": ban,
                                           "method": {"type": "savings", "last4": "4321"},
                                           "next_draft_date": "2026-12-22", "reason": "method_changed",
                                           "contact": self.contact}),
            event("autopay.cancelled", ban, {"mandate_id": f"MD-{self.tag}", "billing_account_number": ban,
                                             "reason": "member_request", "contact": self.contact,
                                             "drafts_in_flight": [{"payment_id": f"PD-{self.tag}",
                                                                   "amount_cents": 31000,
                                                                   "expected_withdrawal_date": "2026-12-24"}]}),
            event("autopay.upcoming", ban, {"mandate_id": f"MD-{self.tag}", "billing_account_number": ban,
                                            "amount_cents": 45210, "draft_date": "2026-12-22",
                                            "previous_amount_cents": 31000, "contact": self.contact,
                                            "method": method, "cycle": "2026-12", "reason": "changed",
                                            "cancel_by": "2026-12-17", "plan_type": "health"}),
            # A new bank account's validation (payments.v1, named account.*).
            Envelope(event_type="account.micro_entries_sent", producer="payments", key=ban, data={
                "validation_id": f"AV-{self.tag}", "method_id": f"M-{self.tag}",
                "billing_account_number": ban, "method": method, "available_on": "2026-12-03",
                "tries_max": 3, "contact": self.contact}),
            Envelope(event_type="account.validation_failed", producer="payments", key=ban, data={
                "validation_id": f"AV2-{self.tag}", "method_id": f"M-{self.tag}",
                "billing_account_number": ban, "method": method, "kind": "prenote",
                "reason": "returned", "return_code": "R03", "failed_on": "2026-12-03",
                "contact": self.contact}),
            event("invoice.issued", ban, {"billing_account_number": ban, "invoice_id": "INV-1",
                                          "kind": "monthly", "coverage_year": 2027,
                                          "coverage_month": "2027-01", "amount_cents": 25000,
                                          "due_date": "2026-12-23", "total_balance_cents": 123456}),
            event("account.delinquent", ban, {**grace, "stage": "grace_started"}),
            event("account.delinquent", ban, {**grace, "stage": "grace_notice"}),
            event("account.delinquent", ban, {**grace, "stage": "grace_ended"}),
            event("coverage.effectuated", ban, {"billing_account_number": ban, "enrollment_id": "331",
                                                "coverage_year": 2027, "coverage_start": "2027-01-01"}),
            event("coverage.terminated", ban, {"billing_account_number": ban, "enrollment_ids": ["331"],
                                               "coverage_year": 2027, "effective_date": "2027-04-30",
                                               "reason": "non_payment",
                                               "reinstatement_amount_cents": 62494,
                                               "reinstate_by": "2027-06-05"}),
            event("password.reset_requested", self.member_id, {
                "member_id": self.member_id, "email": self.email, "phone": self.phone,
                "language": self.language, "reset_url": f"https://portal.example.org/reset?token=tok{self.tag}",
                "expires_at": (datetime(2026, 11, 23, 20, 5, tzinfo=timezone.utc)).isoformat()}),
            event("username.reminder_requested", self.member_id, {
                "member_id": self.member_id, "username": f"user{self.tag}", "email": self.email,
                "language": self.language}),
            event("member.login_throttled", self.member_id, {
                "member_id": self.member_id, "billing_account_numbers": [ban],
                "retry_at": (datetime(2026, 11, 23, 20, 5, tzinfo=timezone.utc)
                             + timedelta(minutes=30)).isoformat(),
                "email": self.email, "phone": self.phone, "language": self.language}),
            event("member.password_changed", self.member_id, {
                "member_id": self.member_id, "changed_at": "2026-11-23T20:05:00+00:00",
                "email": self.email, "phone": self.phone, "language": self.language}),
            event("member.email_changed", self.member_id, {
                "member_id": self.member_id, "old_email": self.email, "new_email": self.new_email,
                "changed_at": "2026-11-23T20:05:00+00:00", "language": self.language}),
            event("member.registration_repeated", self.member_id, {
                "member_id": self.member_id, "username": f"user{self.tag}", "email": self.email,
                "language": self.language}),
        ]
