"""The public API's request and response models: they validate input and generate the
OpenAPI document. Money is a decimal string here ("123.45"); integer cents inside."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.gateway.domain import rules
from shared.calendar import business_today
from shared.money import InvalidAmount, parse_amount
from shared.numbers import BAN_PATTERN

# The shapes the server enforces, published in the OpenAPI document so a request that fits
# the schema is refused only for what a schema cannot say (a check digit, a mismatch, a
# date in the future). Every digit is ASCII [0-9] (pydantic's patterns are Rust regexes,
# where `\d` is any script's digit).
TYPED_DIGITS = r"^[0-9][0-9 -]*$"  # digits as people type them: groups split by spaces or dashes
ID_VALUE = r"^[A-Za-z0-9][A-Za-z0-9 -]*$"
DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
AMOUNT = r"^(0|[1-9][0-9]{0,9})(\.[0-9]{1,2})?$"
PHONE = r"^[0-9 ().+-]*$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
TEXT = r"^[^\x00-\x1f\x7f]*$"  # no control characters
# The path parameters, as the routes check them (anything else answers 404).
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "ban": {"type": "string", "pattern": BAN_PATTERN,
            "description": "10 digits beginning with 7, the last a check digit"},
    "payment_id": {"type": "string", "format": "uuid"},
    "method_id": {"type": "string", "format": "uuid"},
}
# What a refused pattern means, per field (the rule's own message, not "not valid").
PATTERN_KEYS = {"id_value": "err.invalid", "id_value_confirmation": "err.ssn_mismatch",
                "date_of_birth": "err.date", "account_number": "err.account_number",
                "account_number_confirmation": "err.account_mismatch",
                "routing_number": "err.routing_number",
                "routing_number_confirmation": "err.routing_mismatch",
                "card_number": "err.card_number", "cvv": "err.cvv", "postal_code": "err.postal_code",
                "phone": "err.phone", "email": "err.email", "email_confirmation": "err.email_mismatch",
                "billing_account_number": "err.ban", "amount": "err.amount"}


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class CaptchaAnswer(Model):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    answer: str = Field(max_length=16, pattern=r"^[0-9 ]*$")


class LookupRequest(Model):
    plan_type: Literal["health", "dental"]
    id_type: Literal["enrollment_id", "ssn", "billing_account_number"]
    id_value: str = Field(min_length=1, max_length=32, pattern=ID_VALUE)
    id_value_confirmation: str | None = Field(default=None, max_length=32, pattern=r"^[0-9 -]*$")
    first_name: str = Field(min_length=1, max_length=60, pattern=TEXT)
    last_name: str = Field(min_length=1, max_length=60, pattern=TEXT)
    date_of_birth: str = Field(max_length=10, pattern=DATE, description="YYYY-MM-DD",
                               json_schema_extra={"format": "date"})
    captcha: CaptchaAnswer | None = None

    _names = field_validator("first_name", "last_name")(lambda v: rules.check_name(v))

    @field_validator("date_of_birth")
    @classmethod
    def _dob(cls, v: str) -> str:
        return rules.parse_date_of_birth(v, business_today()).isoformat()

    @model_validator(mode="after")
    def _id(self) -> LookupRequest:
        try:
            self.id_value = rules.check_id(self.id_type, self.id_value)
        except ValueError as exc:
            raise _field_error("id_value", str(exc)) from None
        if self.id_type == "ssn":
            if rules.digits(self.id_value_confirmation or "") != self.id_value:
                raise _field_error("id_value_confirmation", "err.ssn_mismatch")
        return self


def _field_error(field: str, key: str) -> ValueError:
    return ValueError(f"{field}|{key}")


class LookupLine(Model):
    coverage_year: int
    plan_name: str
    balance: str
    current_premium: str
    due_date: str | None
    status: str


class PendingPayment(Model):
    payment_id: str
    amount: str
    expected_withdrawal_date: str | None = None
    retry: bool = Field(default=False, description="A returned payment presented again")


class LookupResponse(Model):
    lookup_token: str
    expires_at: str
    billing_account_number: str
    plan_type: str
    lines: list[LookupLine]
    total_balance: str
    pending_total: str | None = Field(default=None, description="Submitted, not yet settled or failed")
    amount_due_now: str | None = Field(default=None, description="total_balance - pending_total, never below 0.00")
    pending_payments: list[PendingPayment] = []
    current_premium: str | None = None
    due_date: str | None = None
    notices: list[dict[str, str]] = []


class BankMethod(Model):
    type: Literal["checking", "savings"]
    account_holder_name: str = Field(min_length=1, max_length=rules.HOLDER_MAX, pattern=TEXT)
    account_number: str = Field(min_length=4, max_length=20, pattern=TYPED_DIGITS)
    account_number_confirmation: str = Field(min_length=4, max_length=20, pattern=TYPED_DIGITS)
    routing_number: str = Field(min_length=9, max_length=12, pattern=TYPED_DIGITS)
    routing_number_confirmation: str = Field(min_length=9, max_length=12, pattern=TYPED_DIGITS)

    _holder = field_validator("account_holder_name")(lambda v: rules.check_name(v, rules.HOLDER_MAX))

    @model_validator(mode="after")
    def _numbers(self) -> BankMethod:
        self.account_number = rules.digits(self.account_number)
        self.routing_number = rules.digits(self.routing_number)
        if not rules.ACCOUNT.match(self.account_number):
            raise _field_error("account_number", "err.account_number")
        if rules.digits(self.account_number_confirmation) != self.account_number:
            raise _field_error("account_number_confirmation", "err.account_mismatch")
        if not rules.aba_ok(self.routing_number):
            raise _field_error("routing_number", "err.routing_number")
        if rules.digits(self.routing_number_confirmation) != self.routing_number:
            raise _field_error("routing_number_confirmation", "err.routing_mismatch")
        self.account_number_confirmation = self.account_number
        self.routing_number_confirmation = self.routing_number
        return self


class CardMethod(Model):
    type: Literal["card"]
    cardholder_name: str = Field(min_length=1, max_length=rules.HOLDER_MAX, pattern=TEXT)
    card_number: str = Field(min_length=12, max_length=23, pattern=TYPED_DIGITS)
    expiry_month: int = Field(ge=1, le=12)
    expiry_year: int = Field(ge=2000, le=2100)
    cvv: str = Field(min_length=3, max_length=4, pattern=r"^[0-9]{3,4}$")
    postal_code: str = Field(max_length=10, pattern=r"^[0-9]{5}(-[0-9]{4})?$")

    _holder = field_validator("cardholder_name")(lambda v: rules.check_name(v, rules.HOLDER_MAX))

    @model_validator(mode="after")
    def _card(self) -> CardMethod:
        self.card_number = rules.digits(self.card_number)
        if not rules.luhn_ok(self.card_number):
            raise _field_error("card_number", "err.card_number")
        if not rules.CVV.match(self.cvv):
            raise _field_error("cvv", "err.cvv")
        if not rules.POSTAL.match(self.postal_code):
            raise _field_error("postal_code", "err.postal_code")
        return self


Method = Annotated[BankMethod | CardMethod, Field(discriminator="type")]


class Contact(Model):
    email: str = Field(max_length=254, pattern=EMAIL)
    email_confirmation: str = Field(max_length=254, pattern=EMAIL)
    # A member with no phone on file pays without one (null or left out); a phone given
    # must be a real one, so the portal's contact form still refuses an empty field.
    phone: str | None = Field(None, min_length=10, max_length=20, pattern=PHONE)
    language: Literal["en", "es"] | None = Field(None, description="The language of the "
                                                 "confirmation messages (the portal sends its own)")

    _email = field_validator("email")(lambda v: rules.check_email(v))
    _phone = field_validator("phone")(lambda v: None if v is None else rules.check_phone(v))

    @model_validator(mode="after")
    def _same_email(self) -> Contact:
        if self.email_confirmation.strip().lower() != self.email.lower():
            raise _field_error("email_confirmation", "err.email_mismatch")
        return self


PAYER_KINDS = ("member", "representative", "ryan_white", "tribe", "tribal_organization",
               "urban_indian_organization", "government_program")


class Payer(Model):
    """Who is paying (45 CFR 156.1250): the member (the default), an authorised
    representative, a Ryan White HIV/AIDS program, an Indian tribe, a tribal organization,
    an urban Indian organization, or a state or federal government program."""
    kind: str = Field("member", description="One of: " + ", ".join(PAYER_KINDS),
                      json_schema_extra={"enum": list(PAYER_KINDS)})
    name: str | None = Field(None, max_length=100, description="The payer's name: required "
                             "for anyone but the member")
    email: str | None = Field(None, max_length=254, pattern=EMAIL, description="Where the "
                              "payer's own receipt goes (optional)")

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, v: object) -> object:
        if v not in PAYER_KINDS:
            raise ValueError("err.payer_kind")
        return v

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, v: object) -> object:
        return (" ".join(v.split()) or None) if isinstance(v, str) else v

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, v: object) -> object:
        return (v.strip() or None) if isinstance(v, str) else v

    @model_validator(mode="after")
    def _named(self) -> Payer:
        if self.kind == "member":
            self.name = self.email = None
        elif not self.name:
            raise _field_error("name", "err.payer_name")
        elif not self.name.isprintable():
            raise _field_error("name", "err.invalid")
        return self


class Allocation(Model):
    coverage_year: int = Field(ge=2000, le=2100)
    amount: str = Field(max_length=13, pattern=AMOUNT)


class PaymentRequest(Model):
    billing_account_number: str = Field(pattern=BAN_PATTERN,
                                        description="10 digits beginning with 7, the last a check digit")
    kind: Literal["one_time", "recurring"]
    amount: str = Field(max_length=13, pattern=AMOUNT.replace("^", "^total$|^", 1),
                        description='"total" or a decimal amount like "123.45"')
    expected_amount: str | None = Field(default=None, max_length=13, pattern=AMOUNT, description=(
        'The amount the payer reviewed: with amount "total", a total that differs at submit '
        "is refused (409 amount_changed, with current_amount) and nothing is charged"))
    allocations: list[Allocation] | None = None
    method: Method
    contact: Contact
    payer: Payer | None = Field(None, description="Who is paying; left out: the member")
    captcha: CaptchaAnswer | None = None

    @field_validator("billing_account_number")
    @classmethod
    def _ban(cls, v: str) -> str:
        if not rules.is_valid_ban(v):
            raise ValueError("err.ban")
        return v

    @field_validator("amount", mode="before")
    @classmethod
    def _negative(cls, v: object) -> object:
        """A negative amount is named as such (before the pattern, which refuses it too)."""
        if isinstance(v, str) and v.startswith("-"):
            raise ValueError("err.amount_positive")
        return v

    @field_validator("amount")
    @classmethod
    def _amount(cls, v: str) -> str:
        if v == "total":
            return v
        try:
            cents = parse_amount(v)
        except InvalidAmount:
            raise ValueError("err.amount") from None
        if cents <= 0:
            raise ValueError("err.amount_positive")
        return v

    @model_validator(mode="after")
    def _payer_pays_once(self) -> PaymentRequest:
        """A representative or program pays one payment at a time: the recurring drafts
        that follow a set-up are the member's own."""
        if self.kind == "recurring" and self.payer is not None and self.payer.kind != "member":
            raise _field_error("payer.kind", "err.payer_recurring")
        return self

    @field_validator("expected_amount")
    @classmethod
    def _expected(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            parse_amount(v)
        except InvalidAmount:
            raise ValueError("err.amount") from None
        return v


class RecurringSetUp(Model):
    """What a recurring payment set-up does: its own confirmation number, the first draft
    date (then the same day every month, the next banking day when it is not one) and the
    authorization the member agreed to."""
    confirmation_number: str
    first_draft_date: str
    draft_day: int
    authorization_text: str


class AccountValidationPlan(Model):
    """A bank account new to the system is validated before or with its first debit
    (Nacha's WEB debit rule): when the validation entries go and the debit follows."""
    kind: str = Field(description="prenote or micro_entries")
    entries_sent_on: str
    entries_arrive_on: str
    debit_with_validation: bool = Field(description="The debit goes in the same file as the "
                                        "validation entries, to meet a due date")
    first_debit_on: str


class BinderDeadline(Model):
    """The binder (first payment) this pays would be withdrawn after its due date the usual
    way, so it goes sooner: in the next ACH file, or as Same Day ACH."""
    due_date: str
    same_day_ach: bool = Field(description="Sent as Same Day ACH: withdrawn on "
                               "expected_withdrawal_date, the day it is sent")


class PaymentResponse(Model):
    payment_id: str | None = Field(None, description="None for a recurring set-up with nothing "
                                   "to withdraw today")
    confirmation_number: str = Field(description="The payment's; the set-up's own (autopay) "
                                     "when nothing is withdrawn today")
    status: str
    amount: str = Field(description="What is charged (0.00 for a recurring set-up with nothing owed today)")
    expected_withdrawal_date: str | None = None
    mandate_id: str | None = None
    autopay: RecurringSetUp | None = None
    account_validation: AccountValidationPlan | None = None
    binder_deadline: BinderDeadline | None = None


class AutopayTerms(Model):
    authorization_text: str = Field(description="The terms a recurring set-up asks the member "
                                    "to agree to (the record adds the bank account given)")
    language: str = Field("en", description="The language of the text: en or es (?language=)")
    draft_day: int
    first_draft_date: str


class NoticeRange(Model):
    """Regulation E (12 CFR 1005.10(d)(2)): hear of a draft only when its amount falls
    outside low..high (dollars and cents, low no more than high)."""
    low: str = Field(pattern=AMOUNT, max_length=13, description="Dollars and cents, like 200.00")
    high: str = Field(pattern=AMOUNT, max_length=13, description="Dollars and cents, like 400.00")


class AutopayRequest(Model):
    method: Method
    contact: Contact
    terms_language: Literal["en", "es"] | None = Field(
        None, description="The language the member read the authorization in, when it is not "
        "the contact's language; the record kept is the text in that language.")
    notice_range: NoticeRange | None = Field(
        None, description="Optional: a notice of a draft's amount and date comes only when it "
        "is outside this range; without one, whenever the amount differs from the previous draft.")


class AutopayMethodChange(Model):
    method: Method


class MemberRequest(Model):
    plan_type: Literal["health", "dental"]
    id_type: Literal["enrollment_id", "ssn", "billing_account_number"]
    id_value: str = Field(min_length=1, max_length=32, pattern=ID_VALUE)
    id_value_confirmation: str | None = Field(default=None, max_length=32, pattern=r"^[0-9 -]*$")
    first_name: str = Field(min_length=1, max_length=60, pattern=TEXT)
    last_name: str = Field(min_length=1, max_length=60, pattern=TEXT)
    date_of_birth: str = Field(max_length=10, pattern=DATE, description="YYYY-MM-DD",
                               json_schema_extra={"format": "date"})
    username: str = Field(min_length=4, max_length=40, pattern=r"^[A-Za-z0-9._@-]+$")
    email: str = Field(max_length=254, pattern=EMAIL)
    password: str = Field(min_length=12, max_length=128)
    phone: str | None = Field(default=None, max_length=20, pattern=PHONE)
    language: Literal["en", "es"] = "en"

    _names = field_validator("first_name", "last_name")(lambda v: rules.check_name(v))
    _email = field_validator("email")(lambda v: rules.check_email(v))

    @field_validator("date_of_birth")
    @classmethod
    def _dob(cls, v: str) -> str:
        return rules.parse_date_of_birth(v, business_today()).isoformat()

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return rules.check_phone(v) if v else None

    @model_validator(mode="after")
    def _id(self) -> MemberRequest:
        try:
            self.id_value = rules.check_id(self.id_type, self.id_value)
        except ValueError as exc:
            raise _field_error("id_value", str(exc)) from None
        if self.id_type == "ssn" and rules.digits(self.id_value_confirmation or "") != self.id_value:
            raise _field_error("id_value_confirmation", "err.ssn_mismatch")
        return self


class SessionRequest(Model):
    username: str = Field(min_length=1, max_length=40)
    password: str = Field(min_length=1, max_length=128)


class PasswordResetRequest(Model):
    username: str | None = Field(default=None, max_length=40, pattern=TEXT)
    email: str | None = Field(default=None, max_length=254, pattern=r"^$|" + EMAIL)
    kind: Literal["password", "username"] = "password"


class PasswordResetConfirm(Model):
    token: str = Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9._~-]+$")
    new_password: str = Field(min_length=12, max_length=128)


class ContactUpdate(Model):
    email: str | None = Field(default=None, max_length=254, pattern=r"^$|" + EMAIL)
    # Needed (and checked by identity) when `email` changes the address.
    current_password: str | None = Field(default=None, max_length=1024)
    phone: str | None = Field(default=None, max_length=20, pattern=PHONE)
    language: Literal["en", "es"] | None = None
    email_enabled: bool | None = None
    sms_enabled: bool | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return rules.check_email(v) if v else None

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return rules.check_phone(v) if v else None


class Line(Model):
    coverage_year: int
    plan_name: str
    carrier: str | None = None
    balance: str
    current_premium: str
    due_date: str | None
    status: str


class Notice(Model):
    service: str
    message: str


class CoverageClock(Model):
    """How long coverage lasts without another payment."""
    paid_through: str | None = Field(None, description="Last day of the last coverage month paid "
                                     "(every month before it paid too)")
    grace_type: Literal["aptc_3_months", "standard_1_month"] = Field(
        description="3 months of grace with advance premium tax credits, 1 month without")
    grace_months: int
    pay_by: str | None = Field(None, description="Pay by this day and no grace period starts")
    keep_coverage_by: str | None = Field(None, description="The latest day to pay to keep "
                                         "coverage (the binder's due date before coverage starts)")
    amount_to_keep: str | None = Field(None, description="What must be paid by keep_coverage_by")
    ends_if_unpaid: str | None = Field(None, description="Coverage's last day (retroactive) if "
                                       "keep_coverage_by passes unpaid")
    starts_on: str | None = Field(None, description="Coverage's first day, while the binder is owed")


class Delinquency(Model):
    stage: str = Field(description="in_grace or terminated")
    grace_start: str
    grace_end: str
    grace_months: int | None = None
    terminated_on: str | None = None
    past_due: str | None = None


class Installment(Model):
    number: int
    due_date: str
    amount: str
    status: Literal["paid", "missed", "due", "upcoming"]


class PaymentPlan(Model):
    """A hardship payment plan: what was past due, spread over monthly installments."""
    plan_id: str
    status: Literal["current", "completed", "broken", "active"] = Field(
        description="current: every installment due so far is paid (delinquency is suspended); "
                    "broken: one went unpaid past its due date")
    months: int
    total: str
    paid: str
    created_on: str
    suspends_delinquency: bool
    schedule: list[Installment]
    next_installment: Installment | None = None


class PaymentPlanOffer(Model):
    eligible: bool
    reason: Literal["nothing_past_due", "plan_exists", "coverage_ended"] | None = None
    past_due: str
    months_min: int
    months_max: int
    first_due_date: str


class RestoredCoverage(Model):
    coverage_year: int
    coverage_start: str
    restored_from: str = Field(description="The day after the termination's effective date: "
                               "coverage resumes from it with no gap")
    then_billed_months: list[str] = Field(description="Months (YYYY-MM) skipped while terminated, "
                                          "billed once coverage is restored (not in amount)")
    then_billed: str


class Reinstatement(Model):
    """After a termination for non-payment (956 CMR 12.12): paying `amount` in full by
    `pay_by` (35 days after the termination notice) restores the coverage ended."""
    possible: bool = Field(description="false once pay_by has passed: a payment then only pays "
                           "down the balance")
    amount: str = Field(description="What reinstates: the whole balance owed")
    pay_by: str = Field(description="The last day to pay (America/New_York business date)")
    noticed_on: str
    terminated_on: str
    plan_type: str
    then_billed: str = Field(description="Billed after reinstating: the skipped months")
    restores: list[RestoredCoverage] = []


class PaymentPlanRequest(Model):
    months: int = Field(ge=2, le=12, description="Months to spread what is past due over")

    @field_validator("months", mode="before")
    @classmethod
    def _whole(cls, v: Any) -> Any:
        # A person's typed number: ASCII digits only ("3"), or a JSON whole number.
        if isinstance(v, bool) or (isinstance(v, str) and not (v.isascii() and v.isdigit())):
            raise ValueError("err.months")
        return int(v) if isinstance(v, str) else v


class AccountSummary(Model):
    billing_account_number: str
    plan_type: str | None = None
    status: str | None = Field(None, description="no_bill_yet, pending_binder, due, paid, "
                               "past_due, in_grace, payment_plan or terminated")
    total_balance: str | None = None
    credit: str | None = Field(default=None, description="Money held for the member beyond what is "
                               "owed (an overpayment): applied to the next bill, or refunded on request")
    pending_total: str | None = Field(default=None, description="Submitted, not yet settled or failed")
    amount_due_now: str | None = Field(default=None, description="total_balance - pending_total, never below 0.00")
    pending_payments: list[PendingPayment] = []
    current_premium: str | None = None
    due_date: str | None = None
    lines: list[Line] = []
    coverage: CoverageClock | None = None
    delinquency: Delinquency | None = None
    payment_plan: PaymentPlan | None = None
    payment_plan_offer: PaymentPlanOffer | None = None
    reinstatement: Reinstatement | None = None
    autopay: dict[str, Any] | None = None
    notices: list[Notice] = []


class ErrorBody(Model):
    code: str
    message: str
    fields: dict[str, str] = {}


class ErrorResponse(Model):
    error: ErrorBody


class Captcha(Model):
    captcha_id: str
    image_png_base64: str
    audio_wav_base64: str
    image_url: str
    audio_url: str
    expires_at: str


def field_errors(exc: ValidationError) -> dict[str, str]:
    """{field path: catalog key}; never the typed value."""
    fields: dict[str, str] = {}
    for err in exc.errors(include_input=False, include_url=False):
        loc = [str(p) for p in err["loc"] if str(p) not in ("checking", "savings", "card")]
        msg = err["msg"].removeprefix("Value error, ")
        if "|" in msg and msg.split("|", 1)[1].startswith("err."):
            sub, key = msg.split("|", 1)
            loc = [*loc, sub]
        elif msg.startswith("err."):
            key = msg
        elif err["type"] == "missing":
            key = "err.required"
        elif err["type"] in ("literal_error", "union_tag_invalid", "union_tag_not_found"):
            key = "err.choose"
        elif err["type"] == "string_pattern_mismatch":
            key = PATTERN_KEYS.get(loc[-1] if loc else "", "err.invalid")
        elif err["type"] == "string_too_short":
            key = "err.required" if (err.get("ctx") or {}).get("min_length") == 1 else "err.too_short"
        elif err["type"] in ("string_too_long",):
            key = "err.too_long"
        else:
            key = "err.invalid"
        fields.setdefault(".".join(loc) or "body", key)
    return fields


class Open(BaseModel):
    """A response that may carry more fields than the ones named here."""
    model_config = ConfigDict(extra="allow")


class DraftInFlight(Model):
    payment_id: str
    amount: str
    expected_withdrawal_date: str


class CancellationCutOff(Model):
    """What cancelling today does (Regulation E: 3 banking days before a draft):
    "Cancel by `cancel_by` to stop the `stops_draft_date` withdrawal"."""
    cancel_by: str = Field(json_schema_extra={"format": "date"})
    stops_draft_date: str = Field(json_schema_extra={"format": "date"})
    still_drafted_on: str | None = Field(None, description="The upcoming draft past its cut-off: "
                                         "a cancellation today no longer stops it")


class Mandate(Open):
    mandate_id: str
    confirmation_number: str | None = None
    status: str
    method: dict[str, Any] | None = None
    draft_day: int | None = None
    next_draft_date: str | None = None
    created_at: str | None = None
    authorization_text: str | None = None
    drafts_in_flight: list[DraftInFlight] = Field([], description="Drafts already made and on "
                                                  "their way: cancelling does not stop them")
    cancellation: CancellationCutOff | None = None
    notice_range: NoticeRange | None = None


class PaymentPayer(Model):
    kind: str
    name: str | None = None


class PaymentView(Open):
    payment_id: str
    confirmation_number: str
    billing_account_number: str | None = None
    kind: str | None = None
    status: str
    amount: str | None = None
    method: dict[str, Any] | None = None
    expected_withdrawal_date: str | None = None
    payer: PaymentPayer | None = Field(None, description="Who paid: {kind: member} or a "
                                       "representative's or third party's {kind, name}")


class PaymentHistory(Model):
    payments: list[PaymentView]
    notices: list[Notice] = []


class Cancelled(Open):
    status: Literal["cancelled"]
    confirmation_number: str | None = None
    drafts_in_flight: list[DraftInFlight] = Field([], description="Drafts made before the "
                                                  "cancellation: they still happen")


class MethodRemoved(Open):
    method_id: str
    status: Literal["removed"]
    billing_account_number: str


class MemberCreated(Open):
    member_id: str
    username: str


class SessionOpened(Model):
    member_id: str
    username: str | None = None
    csrf_token: str = Field(description="Send as X-CSRF-Token on changes made with the session cookie")


class Accepted(Model):
    status: Literal["accepted"]


class MemberContact(Open):
    email: str | None = None
    phone: str | None = None
    language: str | None = None
    email_enabled: bool | None = None
    sms_enabled: bool | None = None


class MeAccount(AccountSummary):
    payments: list[PaymentView] = []
    methods: list[dict[str, Any]] = []
    returned_payment: dict[str, Any] | None = Field(default=None, description=(
        "The newest finished payment when its bank returned it: amount, returned_on, "
        "retry_date (an R01/R09 retry on its way) or null"))


class Me(Model):
    member_id: str
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    contact: MemberContact
    accounts: list[MeAccount]
    notices: list[Notice] = []
    csrf_token: str


class MemberProfile(Open):
    member_id: str
    contact: MemberContact


class RefundRequest(Model):
    amount: str = Field(min_length=1, max_length=16, pattern=r"^(credit|\$?[0-9][0-9,]*(\.[0-9]{1,2})?)$",
                        description='"credit" (all of it) or dollars and cents, like "12.34"')


class RefundMethod(Model):
    type: str
    last4: str
    brand: str | None = None


class Refund(Model):
    refund_id: str
    confirmation_number: str
    amount: str
    status: str = Field(description="pending_approval (over the amount an operator approves), "
                                    "approved, issued, returned or failed")
    method: RefundMethod
    requested_on: str | None = None
    effective_date: str | None = None
    returned_on: str | None = None


class RefundList(Model):
    refunds: list[Refund]
