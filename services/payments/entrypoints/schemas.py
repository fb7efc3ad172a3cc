"""Request bodies of payments' HTTP API (docs/internal-api.md, payments), checked field by
field: every problem is answered at once as 422 `invalid_input` with `{field: message}`
(shared.http turns a ValidationError into that answer), before anything is stored. The
payment method itself is checked by the domain (domain/methods.py) once these pass.

Fields are checked by plain validators, not pydantic's types, so each refusal says what the
API has always said; fields left out are checked as their defaults (validate_default).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationInfo,
    model_validator,
)

from services.payments.domain.methods import InvalidInput
from services.payments.domain.payers import parse_payer
from services.payments.service_layer.mandates import AutopayRequest
from services.payments.service_layer.submit import PaymentRequest
from shared.money import InvalidAmount, parse_amount

RECURRING_FROM_BANK = "Recurring payments are drawn from a checking or savings account."


def _required_text(name: str, max_len: int, *, strip: bool = True) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not value.strip() or len(value) > max_len:
            raise ValueError(f"{name} is required.")
        return value.strip() if strip else value
    return PlainValidator(check)


def _one_of(options: tuple[str, ...], message: str) -> Any:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(message)
        return str(value)
    return PlainValidator(check)


def _or_default(keep: Callable[[Any], bool], default: Any) -> Any:
    """The value when `keep` says it is one, else `default`: never refused."""
    return PlainValidator(lambda value: value if keep(value) else default)


def _dict_or_empty(value: Any) -> Any:
    return value if isinstance(value, dict) else {}


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class _Checked(BaseModel):
    model_config = ConfigDict(validate_default=True)


def _email(value: Any) -> str:
    email = value.strip() if isinstance(value, str) else ""
    if "@" not in email or len(email) > 254:
        raise ValueError("Enter an email address for the confirmation.")
    return email


def _email_confirmation(value: Any, info: ValidationInfo) -> Any:
    email = info.data.get("email")  # absent when the address itself was refused
    if value is not None and email is not None and str(value).strip().lower() != email.lower():
        raise ValueError("The two email addresses do not match.")
    return value


class Contact(_Checked):
    """Where the confirmation goes, as typed; kept as {email, phone, language}."""

    email: Annotated[str, PlainValidator(_email)] = ""
    email_confirmation: Annotated[Any, PlainValidator(_email_confirmation)] = Field(None, exclude=True)
    phone: Annotated[str | None, PlainValidator(_text_or_none)] = None
    language: Annotated[str, _or_default(lambda v: v in ("en", "es"), "en")] = "en"


ContactField = Annotated[Contact, BeforeValidator(_dict_or_empty)]


def _expected_amount(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return parse_amount(value)
    except InvalidAmount:
        raise ValueError("expected_amount is the amount reviewed, like 125.50.") from None


def _method(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError("Choose how to pay.")
    return value


def _allocations(value: Any) -> list | None:
    if value is not None and not isinstance(value, list):
        raise ValueError("allocations is a list of {coverage_year, amount}.")
    return value or None


class PaymentBody(_Checked):
    """POST /payments. Fields in the order their refusals are listed."""

    idempotency_key: Annotated[str, _required_text("idempotency_key", 200)] = ""
    billing_account_number: Annotated[str, _required_text("billing_account_number", 20)] = ""
    kind: Annotated[str, _one_of(("one_time", "recurring"),
                                 "Choose a one-time or a recurring payment.")] = ""
    channel: Annotated[str, _one_of(("guest", "member"), "channel is guest or member.")] = "guest"
    allocations: Annotated[list | None, PlainValidator(_allocations)] = None
    method: Annotated[dict | None, PlainValidator(_method)] = None  # refused when left out
    contact: ContactField = Field(default_factory=dict)
    expected_amount: Annotated[int | None, PlainValidator(_expected_amount)] = None
    amount: Any = None  # "total" or the amount typed: resolved against what is owed
    member_id: Annotated[str | None, PlainValidator(_text_or_none)] = None
    client_ip: Annotated[str | None, PlainValidator(_text_or_none)] = None
    payer: Any = None  # {kind, name, email}: checked by the domain (domain/payers.py)

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("A JSON object is required.")
        return data


def payment_request(body: Any, client_ip: str | None) -> PaymentRequest:
    """The payment asked for; `client_ip` stands when the body names none."""
    p = PaymentBody.model_validate(body)
    payer = parse_payer(p.payer)
    if payer.third_party and p.kind == "recurring":  # the drafts after it are the member's own
        raise InvalidInput({"payer.kind": "A representative or program pays one payment at a "
                                          "time: choose a one-time payment."})
    return PaymentRequest(
        key=p.idempotency_key, ban=p.billing_account_number, kind=p.kind, amount=p.amount,
        allocations=p.allocations, method=p.method or {}, contact=p.contact.model_dump(),
        channel=p.channel, member_id=p.member_id,
        client_ip=p.client_ip if p.client_ip is not None else client_ip, body=body,
        expected_cents=p.expected_amount, payer=payer)


def _not_a_card(value: Any) -> Any:
    if value == "card":
        raise ValueError(RECURRING_FROM_BANK)
    return value


class BankMethod(BaseModel):
    """A recurring payment's method as typed: any type but a card; the domain checks the
    rest (domain/methods.py parse_bank_account)."""

    model_config = ConfigDict(extra="allow")
    type: Annotated[Any, PlainValidator(_not_a_card)] = None

    def typed(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


BankMethodField = Annotated[BankMethod, BeforeValidator(_dict_or_empty)]


def _terms_language(value: Any) -> str | None:
    if value is not None and value not in ("en", "es"):
        raise ValueError("terms_language is en or es.")
    return value


def _notice_range(value: Any) -> tuple[int, int] | None:
    """{low, high} in dollars and cents ("100.00"): the member hears of a draft only when
    it falls outside them (Regulation E, 12 CFR 1005.10(d)(2))."""
    if value is None:
        return None
    message = "notice_range is {low, high}, amounts like 125.50, low no more than high."
    if not isinstance(value, dict) or set(value) != {"low", "high"}:
        raise ValueError(message)
    try:
        low, high = parse_amount(value["low"]), parse_amount(value["high"])
    except InvalidAmount:
        raise ValueError(message) from None
    if low > high or high == 0:
        raise ValueError(message)
    return low, high


class AutopayBody(_Checked):
    """POST /accounts/{ban}/autopay. Fields in the order their refusals are listed."""

    idempotency_key: Annotated[str, _required_text("idempotency_key", 200, strip=False)] = ""
    contact: ContactField = Field(default_factory=dict)
    terms_language: Annotated[str | None, PlainValidator(_terms_language)] = None
    method: BankMethodField = Field(default_factory=dict)
    member_id: Annotated[str | None, PlainValidator(_text_or_none)] = None
    client_ip: Any = None
    notice_range: Annotated[tuple[int, int] | None, PlainValidator(_notice_range)] = None

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data: Any) -> Any:
        return _dict_or_empty(data)  # anything else is an empty body: every field refused


def autopay_request(body: Any, client_ip: str | None) -> AutopayRequest:
    """The recurring set-up asked for; `client_ip` stands when the body names none."""
    a = AutopayBody.model_validate(body)
    return AutopayRequest(
        key=a.idempotency_key, method=a.method.typed(), contact=a.contact.model_dump(),
        terms_language=a.terms_language, member_id=a.member_id,
        client_ip=a.client_ip or client_ip, body=body, notice_range=a.notice_range)


class AutopayMethodBody(_Checked):
    """PUT /accounts/{ban}/autopay/method: the new bank account."""

    method: BankMethodField = Field(default_factory=dict)
    client_ip: Any = None

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data: Any) -> Any:
        return _dict_or_empty(data)  # anything else has no account: the domain says what is missing
