"""Keeps one file per service holding a fresh `metrics` service token for it, for a
Prometheus scraper: `python -m shared.scrape_tokens --dir /var/run/scrape-tokens`.

A service's /metrics answers only a caller with a token for it (shared/service_auth.py),
and tokens live at most 5 minutes, so a stock Prometheus, which sends a fixed credential,
cannot mint them. Prometheus re-reads a job's `authorization.credentials_file` on every
scrape: this process (a sidecar beside Prometheus, with `SERVICE_KEYS` holding only the
`metrics` caller's keys) writes `<dir>/<service>` every `--every` seconds (owner-only,
replaced atomically), each token good for 4 minutes. deploy/monitoring/
prometheus.yml points each job at its file. `--once` writes them and stops.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from shared.service_auth import PERMISSIONS, TokenSigner
from shared.settings import ServiceSettings

SCRAPED = tuple(PERMISSIONS["metrics"])
TOKEN_TTL_S = 240  # within the 300 s a service accepts, with room for clock skew


def write_tokens(signer: TokenSigner, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    written = []
    for service in SCRAPED:
        path = folder / service
        tmp = folder / f".{service}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(signer.mint(service))
        os.replace(tmp, path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.scrape_tokens", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="where the token files go")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between refreshes")
    parser.add_argument("--once", action="store_true", help="write them once and stop")
    args = parser.parse_args(argv)
    if not 0 < args.every <= TOKEN_TTL_S / 2:
        parser.error(f"--every must be at most {TOKEN_TTL_S // 2} seconds (tokens live {TOKEN_TTL_S} s)")
    signer = TokenSigner.from_keys(ServiceSettings().service_keys, "metrics", TOKEN_TTL_S)
    while True:
        write_tokens(signer, args.dir)
        if args.once:
            return
        time.sleep(args.every)


if __name__ == "__main__":
    main()
