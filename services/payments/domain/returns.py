"""What each ACH return and notification of change does to a payment, method and mandate."""
from __future__ import annotations

from dataclasses import dataclass

from shared.numbers import is_digits

RETURN_REASONS = {
    "R01": "Insufficient funds", "R02": "Account closed", "R03": "No account / unable to locate",
    "R04": "Invalid account number", "R05": "Unauthorized debit to consumer account",
    "R06": "Returned per ODFI request", "R07": "Authorization revoked by customer",
    "R08": "Payment stopped", "R09": "Uncollected funds", "R10": "Customer advises not authorized",
    "R11": "Customer advises entry not in accordance with the terms of the authorization",
    "R16": "Account frozen", "R20": "Non-transaction account", "R29": "Corporate customer advises not authorized",
    "R51": "Item related to RCK entry is ineligible or RCK entry is improper",
}
RETRYABLE = frozenset({"R01", "R09"})
DISABLES_METHOD = frozenset({"R02", "R03", "R04"})
CANCELS_MANDATE = frozenset({"R07", "R10"})
NOC_CODES = {"C01": "Incorrect account number", "C02": "Incorrect routing number",
             "C03": "Incorrect routing and account number", "C05": "Incorrect transaction code",
             "C06": "Incorrect account number and transaction code",
             "C07": "Incorrect routing number, account number and transaction code"}


@dataclass(frozen=True)
class ReturnDecision:
    will_retry: bool
    method_disabled: bool
    mandate_cancelled: bool
    reason: str


def decide_return(code: str, attempt: int, retries_max: int, has_mandate: bool) -> ReturnDecision:
    """`attempt` is 1 for the first presentment; R01/R09 are presented again at most
    `retries_max` (NACHA: two) more times."""
    return ReturnDecision(
        will_retry=code in RETRYABLE and attempt <= retries_max,
        method_disabled=code in DISABLES_METHOD,
        mandate_cancelled=code in CANCELS_MANDATE and has_mandate,
        reason=RETURN_REASONS.get(code, "Returned by the bank"))


@dataclass(frozen=True)
class Correction:
    routing_number: str | None = None
    account_number: str | None = None
    account_type: str | None = None


def parse_correction(code: str, data: str) -> Correction | None:
    """The corrected details of a NOC (NACHA's layouts); None when unusable."""
    from services.payments.domain.nacha import TX_TYPE
    from shared.numbers import aba_ok

    def acct(s: str) -> str | None:
        s = s.strip()
        return s if is_digits(s, 4, 17) else None

    def routing(s: str) -> str | None:
        s = s.strip()
        return s if aba_ok(s) else None

    if code == "C01":
        return Correction(account_number=acct(data)) if acct(data) else None
    if code == "C02":
        return Correction(routing_number=routing(data)) if routing(data) else None
    if code == "C03":  # routing (9), 3 spaces, account (17)
        r, a = routing(data[:9]), acct(data[12:29])
        return Correction(routing_number=r, account_number=a) if r and a else None
    if code == "C05":
        t = TX_TYPE.get(data.strip()[:2])
        return Correction(account_type=t) if t else None
    if code == "C06":  # account (17), 3 spaces, transaction code (2)
        a, t = acct(data[:17]), TX_TYPE.get(data[20:22])
        return Correction(account_number=a, account_type=t) if a and t else None
    if code == "C07":  # routing (9), account (17), transaction code (2)
        r, a, t = routing(data[:9]), acct(data[9:26]), TX_TYPE.get(data[26:28])
        return Correction(routing_number=r, account_number=a, account_type=t) if r and a and t else None
    return None
