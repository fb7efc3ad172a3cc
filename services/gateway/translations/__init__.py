"""The portal's message catalogs (English and Spanish), one JSON file per language.

`translate(lang, key, **values)` falls back to English, then to the key itself (so an
upstream message that is already words passes through unchanged)."""
from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
LANGUAGES = ("en", "es")
CATALOGS: dict[str, dict[str, str]] = {
    lang: json.loads((HERE / f"{lang}.json").read_text(encoding="utf-8")) for lang in LANGUAGES}


def translate(lang: str, key: str, **values: object) -> str:
    text = CATALOGS.get(lang, {}).get(key) or CATALOGS["en"].get(key)
    if text is None:
        prefix, _, rest = key.partition(".")
        # An unknown status or label reads as words, not as a catalog key.
        text = rest.replace("_", " ").capitalize() if prefix in ("status", "label") and rest else key
    if values:
        try:
            return text.format(**values)
        except (KeyError, IndexError, ValueError):
            return text
    return text
