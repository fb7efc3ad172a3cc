"""Monthly statements as HTML (Jinja2) and PDF (fpdf2)."""
from __future__ import annotations

from pathlib import Path

from fpdf import FPDF
from jinja2 import Environment, FileSystemLoader, select_autoescape

from shared.money import format_cents

_env = Environment(loader=FileSystemLoader(Path(__file__).parent.parent / "templates"),
                   autoescape=select_autoescape(["html"]))
_env.filters["money"] = lambda cents: "$" + format_cents(cents)
KIND_LABELS = {"invoice": "Premium billed", "payment": "Payment received",
               "credit": "Payment kept as credit", "reversal": "Returned payment reversed",
               "credit_applied": "Credit applied", "adjustment": "Adjustment"}


def render_html(data: dict) -> str:
    return _env.get_template("statement.html").render(s=data, labels=KIND_LABELS)


def render_pdf(data: dict) -> bytes:
    a = data["account"]
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 10, f"{a['plan_type'].title()} premium statement - {data['month']}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.cell(0, 6, f"Billing account number {a['billing_account_number']}", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 6, f"Balance at the start of the month: ${format_cents(data['opening_cents'])}",
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 10)
    for text, width in (("Date", 30), ("What", 80), ("Coverage month", 40), ("Amount", 30)):
        pdf.cell(width, 7, text, border=1)
    pdf.ln()
    pdf.set_font("Helvetica", size=10)
    for e in data["entries"]:
        pdf.cell(30, 7, e["date"], border=1)
        pdf.cell(80, 7, KIND_LABELS.get(e["kind"], e["kind"]), border=1)
        pdf.cell(40, 7, e["coverage_month"], border=1)
        pdf.cell(30, 7, "$" + format_cents(e["amount_cents"]), border=1, align="R")
        pdf.ln()
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 8, f"Balance at the end of the month: ${format_cents(data['closing_cents'])}")
    return bytes(pdf.output())
