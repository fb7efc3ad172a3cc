"""Writes each service's AsyncAPI document (generated from its code) to docs/asyncapi/.

`python scripts/asyncapi.py` regenerates them; `--check` exits 1 when a committed document
no longer matches the code (the test suite runs that check). Running services serve the
same document at GET /asyncapi.json.
"""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "asyncapi"
SERVICES = ("identity", "billing", "payments", "notify")


def documents() -> dict[str, str]:
    docs = {}
    for name in SERVICES:
        app = importlib.import_module(f"services.{name}.app")
        config = importlib.import_module(f"services.{name}.config")
        service = app.build_service(config.Settings())
        docs[name] = json.dumps(service.asyncapi(), indent=2, sort_keys=True) + "\n"
    return docs


def main() -> int:
    check = "--check" in sys.argv
    stale = []
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in documents().items():
        path = OUT / f"{name}.json"
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"stale AsyncAPI documents (run python scripts/asyncapi.py): {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
