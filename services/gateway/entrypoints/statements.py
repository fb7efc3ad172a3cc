"""A member's monthly statement, from billing's figures: the portal page (printable, with the
exchange's header) and the PDF (US Letter), both in the member's language.

Billing gives the ledger entries of the month in signed cents (a charge is positive, a
payment or credit negative); a member reads charges and payments in columns of their own,
every amount without a minus sign, dates written out ("December 3, 2026")."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fpdf import FPDF

from services.gateway.entrypoints.pages import long_date, month_name
from shared.money import format_dollars

Translate = Callable[..., str]


@dataclass(frozen=True)
class Row:
    date: str
    what: str
    coverage_month: str
    charge: str       # "" when the entry is a payment or credit
    payment: str      # "" when the entry is a charge


@dataclass(frozen=True)
class Statement:
    ban: str
    month: str         # YYYY-MM
    title: str
    opening: str
    closing: str
    rows: list[Row]
    total_charges: str
    total_payments: str


def balance_words(cents: int, t: Translate) -> str:
    """What a balance means: owed, nothing, or a credit."""
    if cents < 0:
        return t("history.statement_credit", amount=format_dollars(-cents))
    return format_dollars(cents)


def build(data: dict[str, Any], lang: str, t: Translate) -> Statement:
    account = data.get("account") or {}
    plan = t("plan." + str(account.get("plan_type") or "health"))
    rows, charges, payments = [], 0, 0
    for e in data.get("entries") or []:
        cents = int(e["amount_cents"])
        if cents >= 0:
            charges += cents
        else:
            payments -= cents
        rows.append(Row(date=long_date(e.get("date"), lang),
                        what=t("history.statement_kind." + str(e.get("kind"))),
                        coverage_month=month_name(e.get("coverage_month") or "", lang),
                        charge=format_dollars(cents) if cents >= 0 else "",
                        payment=format_dollars(-cents) if cents < 0 else ""))
    month = str(data.get("month") or "")
    return Statement(
        ban=str(account.get("billing_account_number") or ""), month=month,
        title=t("history.statement_title", plan=plan, plan_lower=plan.lower(),
                month=month_name(month, lang)),
        opening=balance_words(int(data.get("opening_cents") or 0), t),
        closing=balance_words(int(data.get("closing_cents") or 0), t),
        rows=rows, total_charges=format_dollars(charges), total_payments=format_dollars(payments))


def _latin1(text: str) -> str:
    """The PDF's core fonts speak Latin-1 (every Spanish letter is in it)."""
    return text.replace("\u2019", "'").replace("\u2013", "-").replace("\u2014", "-") \
        .encode("latin-1", "replace").decode("latin-1")


def render_pdf(st: Statement, t: Translate, program: str, help_phone: str) -> bytes:
    pdf = FPDF(format="Letter", unit="mm")
    pdf.set_title(_latin1(st.title))
    pdf.set_margins(19, 19, 19)
    pdf.add_page()
    line = dict(new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 7, _latin1(f"{program} {t('site.payments')}"), **line)
    pdf.set_draw_color(0, 94, 162)
    pdf.set_line_width(0.6)
    pdf.line(pdf.l_margin, pdf.get_y() + 1, pdf.w - pdf.r_margin, pdf.get_y() + 1)
    pdf.ln(5)
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 8, _latin1(st.title), **line)
    pdf.set_font("Helvetica", size=10)
    pdf.cell(0, 6, _latin1(t("history.statement_account", ban=st.ban)), **line)
    pdf.cell(0, 6, _latin1(f"{t('history.statement_opening')}: {st.opening}"), **line)
    pdf.ln(3)
    widths = (36, 54, 34, 26, 26)   # 176 mm: a Letter page is 215.9 mm wide, 19 mm margins
    heads = (t("history.date"), t("history.statement_what"), t("history.month"),
             t("history.statement_charges"), t("history.statement_payments"))
    pdf.set_font("Helvetica", "B", 9)
    pdf.set_fill_color(240, 240, 240)
    for text, width in zip(heads, widths):
        pdf.cell(width, 7, _latin1(text), border=1, fill=True)
    pdf.ln()
    pdf.set_font("Helvetica", size=9)
    if not st.rows:
        pdf.cell(sum(widths), 7, _latin1(t("history.statement_none")), border=1)
        pdf.ln()
    for r in st.rows:
        for i, (text, width) in enumerate(zip((r.date, r.what, r.coverage_month, r.charge, r.payment), widths)):
            pdf.cell(width, 7, _latin1(text), border=1, align="R" if i >= 3 else "L")
        pdf.ln()
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(sum(widths[:3]), 7, _latin1(t("history.statement_totals")), border=1)
    pdf.cell(widths[3], 7, st.total_charges, border=1, align="R")
    pdf.cell(widths[4], 7, st.total_payments, border=1, align="R")
    pdf.ln(10)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 8, _latin1(f"{t('history.statement_closing')}: {st.closing}"), **line)
    pdf.set_font("Helvetica", size=9)
    pdf.ln(4)
    pdf.multi_cell(0, 5, _latin1(t("site.help", phone=help_phone)), **line)
    return bytes(pdf.output())
