"""Renders a message from its Jinja2 template: subject, plain text, HTML and SMS.

Each template is one file per language, `templates/<lang>/<name>.j2`, with the blocks
`subject`, `text`, `html` and `sms`. The HTML block is rendered by an autoescaping
environment and wrapped in `templates/layout.html`; the others by a plain-text one. A
language without the file (or without a block, or with a block that renders empty) falls
back to English, so a member never receives an empty message.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    pass_context,
)
from jinja2.runtime import Context
from markupsafe import Markup

from services.notify.domain import format as fmt

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
BLOCKS = ("subject", "text", "html", "sms")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    sms: str
    language: str  # the language actually used (after any fallback)


class TemplateMissing(LookupError):
    pass


@pass_context
def _money(ctx, cents):
    return fmt.format_money(int(cents or 0), ctx.get("language", "en"))


@pass_context
def _date(ctx, value):
    return fmt.format_date(value, ctx.get("language", "en"))


@pass_context
def _datetime(ctx, value):
    return fmt.format_datetime(value, ctx.get("language", "en"))


@pass_context
def _month(ctx, value):
    return fmt.format_month(value, ctx.get("language", "en"))


@pass_context
def _method(ctx, method):
    """{'type': 'checking', 'last4': '6789'} -> 'checking account ending in 6789'."""
    method = method or {}
    es = ctx.get("language") == "es"
    kind = method.get("type")
    if kind in _RECEIVED_ITEMS:  # 'check #1234': the check's own number, not an account
        return _received_item(kind, fmt.last4(method.get("last4")), es)
    if kind == "card":
        name = method.get("brand") or ("tarjeta" if es else "card")
        name = f"{'tarjeta ' if es else ''}{name}" if method.get("brand") else name
    elif kind == "savings":
        name = "cuenta de ahorros" if es else "savings account"
    else:
        name = "cuenta de cheques" if es else "checking account"
    digits = fmt.last4(method.get("last4"))
    return f"{name} {'que termina en' if es else 'ending in'} {digits}" if digits else name


_RECEIVED_ITEMS = {"check": ("check", "cheque"), "money_order": ("money order", "giro postal")}


def _received_item(kind: str, digits: str, es: bool) -> str:
    """{'type': 'check', 'last4': '1234'} -> 'check #1234' / 'cheque n.º 1234'."""
    en_name, es_name = _RECEIVED_ITEMS[kind]
    if es:
        return f"{es_name} n.º {digits}" if digits else es_name
    return f"{en_name} #{digits}" if digits else en_name


@pass_context
def _plan(ctx, plan_type):
    """'health' -> 'Health plan' / 'plan de salud'."""
    es = ctx.get("language") == "es"
    if plan_type == "dental":
        return "plan dental" if es else "Dental plan"
    if plan_type == "health":
        return "plan de salud" if es else "Health plan"
    return "plan"


_PAYER_KINDS = {
    "representative": ("Authorized representative", "Representante autorizado"),
    "ryan_white": ("Ryan White program", "Programa Ryan White"),
    "tribe": ("Indian tribe", "Tribu indígena"),
    "tribal_organization": ("Tribal organization", "Organización tribal"),
    "urban_indian_organization": ("Urban Indian organization", "Organización indígena urbana"),
    "government_program": ("Government program", "Programa del gobierno"),
}


@pass_context
def _payer(ctx, payer):
    """{'kind': 'ryan_white', 'name': 'Boston Health Care'} -> 'Ryan White program: Boston
    Health Care' (the kind in the reader's language, the name as typed)."""
    payer = payer or {}
    en, es = _PAYER_KINDS.get(payer.get("kind"), ("Third party", "Tercero"))
    return f"{es if ctx.get('language') == 'es' else en}: {payer.get('name') or ''}".strip()


def _environment(template_dir: Path, autoescape: bool) -> Environment:
    # Templates are part of the release: never looked at again on disk once compiled.
    env = Environment(loader=FileSystemLoader(template_dir), autoescape=autoescape,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=False, auto_reload=False)
    env.filters.update(money=_money, date=_date, datetime=_datetime, month=_month, method=_method, plan=_plan,
                       payer=_payer)
    return env


class Renderer:
    """Compiled templates, shared by the consumer and the reminder job."""

    def __init__(self, template_dir: Path = TEMPLATE_DIR) -> None:
        self.text_env = _environment(template_dir, autoescape=False)
        self.html_env = _environment(template_dir, autoescape=True)
        self.layout = self.html_env.get_template("layout.html")
        # (html?, "<lang>/<name>.j2") -> the compiled template, or None when there is none:
        # each message's blocks are found in a dict, not through Jinja's loader and cache.
        self._templates: dict[tuple[bool, str], Template | None] = {}
        self._globals: dict[Template, dict[str, Any]] = {}

    def render(self, template: str, language: str, context: dict[str, Any],
               blocks: tuple[str, ...] = BLOCKS) -> Rendered:
        """Render the named blocks (all by default; others come back empty)."""
        language = fmt.normalize_language(language)
        parts = dict.fromkeys(BLOCKS, "")
        used = language
        contexts: dict[tuple[str, bool], Any] = {}
        for block in blocks:
            text = self._block(template, language, block, context, contexts)
            if not text and language != "en":
                text = self._block(template, "en", block, context, contexts)
                used = "en" if block == "subject" else used
            if not text:
                raise TemplateMissing(f"template {template!r} renders an empty {block}")
            parts[block] = text
        html = ""
        if "html" in blocks:
            layout = self._context(self.layout, {
                "subject": parts["subject"], "body": Markup(parts["html"]), "language": used,
                **_layout_context(context)})
            html = "".join(self.layout.root_render_func(layout))
        return Rendered(parts["subject"], parts["text"], html, parts["sms"], used)

    def _block(self, template: str, language: str, block: str, context: dict[str, Any],
               contexts: dict) -> str:
        html = block == "html"
        tmpl = self._template(html, f"{language}/{template}.j2")
        if tmpl is None:
            return ""
        render = tmpl.blocks.get(block)
        if render is None:
            return ""
        # One Jinja context per (language, environment) serves all of its blocks.
        ctx = contexts.get((language, html))
        if ctx is None:
            ctx = contexts[(language, html)] = self._context(tmpl, {**context, "language": language})
        return _tidy("".join(render(ctx)), block)

    def _context(self, template: Template, variables: dict[str, Any]) -> Context:
        """The context `template.new_context(variables)` makes, for a small part of its
        cost: the template's globals (Jinja's `range`, `dict`, ...: a chain of mappings
        that `new_context` copies, and iterates again for their names, on every call) are
        flattened into a dict once per template. A message is rendered through three."""
        flat = self._globals.get(template)
        if flat is None:
            flat = self._globals[template] = dict(template.globals)
        return Context(template.environment, {**flat, **variables}, template.name, template.blocks)

    def _template(self, html: bool, name: str) -> Template | None:
        key = (html, name)
        if key not in self._templates:
            env = self.html_env if html else self.text_env
            try:
                self._templates[key] = env.get_template(name)
            except TemplateNotFound:
                self._templates[key] = None
        return self._templates[key]


def _layout_context(context: dict[str, Any]) -> dict[str, Any]:
    return {"portal_url": context.get("portal_url", ""),
            "support_phone": context.get("support_phone", "")}


_SPACES = re.compile(r"[ \t]+")
_BLANKS = re.compile(r"\n{3,}")


def _tidy(text: str, block: str) -> str:
    if block in ("subject", "sms"):
        return _SPACES.sub(" ", text.replace("\n", " ")).strip()
    lines = [line.strip() for line in text.strip().splitlines()]
    return _BLANKS.sub("\n\n", "\n".join(lines))
