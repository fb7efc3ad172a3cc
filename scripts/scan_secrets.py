"""Looks for full SSNs, bank account numbers and card numbers where they do not belong,
after a test run (the last step of `make test`) or against any profile's servers.

What it knows:
- SSNs: every `ssn` of every event on `enrollment.v1` (the exchange's feed, where SSNs
  arrive; each test publishes its members there);
- bank account numbers: every account number payments stored (its encrypted column, read
  back with payments' key) and every entry of every NACHA and return file found;
- card numbers: the card sandbox's test numbers, and any run of 13-16 digits standing alone
  (not inside a word, id or `PMT-` reference) that passes the Luhn check with a card brand's
  prefix (payments keeps only the processor's tokens and the last four digits).

Where it looks, and what is allowed there:
- every text, JSON and bytea column of every table of every database (columns it recognises
  as ciphertext or keyed hashes, `[*_]ciphertext`, `*_encrypted`, `sealed` (sealed dead
  letters), `*_hash`, are skipped);
- every file under the given folders: logs, captured emails and SMS, the bank sandbox's
  files (PostgreSQL's and Kafka's own data files are read through the servers instead);
  NACHA and return files (`*.ach`) may hold account numbers but must be 0600 in a 0700
  folder, archive files (`*.enc`) must be 0600 and hold none;
- every record (value, key and headers) of every Kafka topic, dead-letter topics included;
  SSNs are allowed on `enrollment.v1` only.

Values a test plants on purpose (to prove that what reads them redacts them) are listed with
where they are planted in `--planted FILE` (`tests/security/planted_secrets.txt`); they are
counted apart, never hidden. It prints what it scanned (counts) and every finding (where, what kind, the value masked to
its last four digits) and exits 1 when there is any.

Usage: python scripts/scan_secrets.py [--kafka HOST:PORT] [--pg-admin-dsn DSN] [--dir PATH ...]
[--known FILE] (default: the test servers of TEST_KAFKA_BOOTSTRAP / TEST_PG_ADMIN_DSN and
`.state/test`, where `make test` also keeps pytest's temporary folders).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import stat
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from sandboxes.card import DECLINES  # noqa: E402
from shared.contracts.topics import ENROLLMENT_V1  # noqa: E402
from shared.kafka import PLAINTEXT, KafkaAuth  # noqa: E402
from shared.numbers import luhn_ok  # noqa: E402

SSN, ACCOUNT, CARD = "ssn", "bank account number", "card number"
# The card processor sandbox's published test numbers (approved, then its declines).
CARD_SANDBOX_NUMBERS = ("4242424242424242", "5555555555554444", "378282246310005",
                        "6011111111111117", *DECLINES)
DIGIT_RUNS = re.compile(rb"(?<![0-9])(?:[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{4,19})(?![0-9])")
# A card number stands alone: not part of a word, a hex id or a prefixed reference
# (`PMT-4156...`, a Message-ID), which pass Luhn one time in ten.
WORDISH = re.compile(rb"[0-9A-Za-z_-]")
SKIP_COLUMNS = re.compile(r"(^|_)(ciphertext|encrypted|sealed|hash)$")
TEXT_TYPES = ("text", "character varying", "character", "json", "jsonb", "bytea")
# Read through their servers instead: Kafka's log segments and PostgreSQL's data files
# (of PostgreSQL's folder only its server log is read).
SKIP_DIRS = {"data", "node_modules",
             "fuzz"}  # the fuzzer's own record of the requests it made up, not the system's
PG_DIR = "pg"
MIN_ACCOUNT_DIGITS = 6  # shorter "account numbers" would match every amount and date




def looks_like_card(number: str) -> bool:
    # 13-16 digits: longer runs (message ids, 64-bit numbers) would pass Luhn one time in ten
    if not 13 <= len(number) <= 16 or not luhn_ok(number):
        return False
    two, four = int(number[:2]), int(number[:4])
    return (number[0] == "4" or 51 <= two <= 55 or 2221 <= four <= 2720 or two in (34, 37)
            or number.startswith(("6011", "65")))


def mask(value: str) -> str:
    return "*" * (len(value) - 4) + value[-4:]


@dataclass
class Finding:
    where: str
    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind} {mask(self.value)} in {self.where}"


@dataclass
class Report:
    scanned: Counter = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    planted: list[Finding] = field(default_factory=list)
    known: Counter = field(default_factory=Counter)

    def lines(self) -> list[str]:
        out = ["secrets scan: known values " + ", ".join(f"{v} {k}s" for k, v in sorted(self.known.items())),
               "secrets scan: scanned " + ", ".join(f"{v} {k}" for k, v in sorted(self.scanned.items()))]
        if self.planted:
            out.append(f"secrets scan: {len(self.planted)} values planted by tests where they "
                       "planted them (listed in the planted file)")
        by_place = Counter(f.where.split(" ")[0] for f in self.findings)
        out.append(f"secrets scan: {len(self.findings)} findings"
                   + (" (" + ", ".join(f"{k}: {v}" for k, v in by_place.most_common()) + ")"
                      if self.findings else ""))
        out += [f"  FINDING: {f}" for f in self.findings[:200]]
        if len(self.findings) > 200:
            out.append(f"  ... and {len(self.findings) - 200} more")
        return out


class Scanner:
    def __init__(self, planted: Iterable[tuple[str, str]] = ()) -> None:
        self.kinds: dict[str, set[str]] = {}
        self.report = Report()
        self.planted = [(where, value.replace("-", "")) for where, value in planted]
        for number in CARD_SANDBOX_NUMBERS:
            self.know(number, CARD)

    def know(self, value: str, kind: str) -> None:
        value = value.replace("-", "")
        if value.isascii() and value.isdigit() and (kind != ACCOUNT or len(value) >= MIN_ACCOUNT_DIGITS):
            self.kinds.setdefault(value, set()).add(kind)

    def count_known(self) -> None:
        self.report.known = Counter(k for kinds in self.kinds.values() for k in kinds)

    def check(self, data: bytes | str, where: str, allowed: Iterable[str] = ()) -> None:
        """Record a finding for each sensitive value in `data` not allowed at `where`."""
        if isinstance(data, str):
            data = data.encode("utf-8", "replace")
        allowed = set(allowed)
        seen: set[tuple[str, str]] = set()
        for m in DIGIT_RUNS.finditer(data):
            value = m.group().decode().replace("-", "")
            kinds = set(self.kinds.get(value, ()))
            start, end = m.span()
            alone = not (start and WORDISH.match(data, start - 1)) and not WORDISH.match(data, end)
            if alone and looks_like_card(value):
                kinds.add(CARD)
            if not kinds or kinds & allowed:
                continue
            for kind in sorted(kinds):
                if (kind, value) not in seen:
                    seen.add((kind, value))
                    planted = any(where.startswith(w) and value == v for w, v in self.planted)
                    (self.report.planted if planted else self.report.findings).append(
                        Finding(where, kind, value))


# ------------------------------------------------------------------ what is known
async def learn_from_enrollments(scanner: Scanner, records: list[Any]) -> None:
    for r in records:
        try:
            event = orjson.loads(r.value)
        except orjson.JSONDecodeError:
            continue
        data = event.get("data") if isinstance(event, dict) else None
        members = []
        if isinstance(data, dict):
            members = [data, *[m for m in data.get("members", []) if isinstance(m, dict)]]
            subscriber = data.get("subscriber")
            if isinstance(subscriber, dict):
                members.append(subscriber)
        for m in members:
            if isinstance(m.get("ssn"), str):
                scanner.know(m["ssn"], SSN)


async def learn_from_payments(scanner: Scanner, conn: asyncpg.Connection) -> int:
    """Account numbers payments stored, decrypted with payments' key (its settings)."""
    from services.payments.adapters.crypto import AccountCipher
    from services.payments.config import Settings

    s = Settings()
    cipher = AccountCipher(s.account_key_id, s.account_key, s.account_old_keys)
    learned = 0
    for r in await conn.fetch("SELECT method_id, account_ciphertext, key_id FROM methods "
                              "WHERE account_ciphertext IS NOT NULL"):
        try:
            scanner.know(cipher.decrypt(r["account_ciphertext"], r["key_id"], r["method_id"]), ACCOUNT)
            learned += 1
        except Exception:  # noqa: BLE001 - another key (a test's own): the files still tell
            continue
    return learned


def learn_from_ach(scanner: Scanner, path: Path) -> None:
    for line in path.read_bytes().decode("ascii", "replace").splitlines():
        if line.startswith("6") and len(line) == 94:
            scanner.know(line[12:29].strip(), ACCOUNT)
        elif line.startswith("7") and len(line) == 94 and line[3:6] == "C01":
            scanner.know(line[35:52].strip(), ACCOUNT)  # a corrected account number


# ------------------------------------------------------------------ where to look
async def read_topics(bootstrap: str, auth: KafkaAuth) -> dict[str, list[Any]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **auth.client_options())
    await admin.start()
    try:
        topics = sorted(t for t in await admin.list_topics() if not t.startswith("__"))
        described = await admin.describe_topics(topics) if topics else []
    finally:
        await admin.close()
    parts = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", **auth.client_options())
    await consumer.start()
    out: dict[str, list[Any]] = {t: [] for t in topics}
    try:
        if not parts:
            return out
        consumer.assign(parts)
        end = await consumer.end_offsets(parts)
        await consumer.seek_to_beginning(*parts)
        pending = {tp for tp in parts if end[tp] > 0}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000, max_records=5000)
            if not batch and all([await consumer.position(tp) >= end[tp] for tp in pending]):
                break
            for tp, records in batch.items():
                out[tp.topic].extend(records)
            pending = {tp for tp in pending if await consumer.position(tp) < end[tp]}
    finally:
        await consumer.stop()
    return out


async def database_names(admin_dsn: str) -> list[str]:
    conn = await asyncpg.connect(admin_dsn)
    try:
        return [r["datname"] for r in await conn.fetch(
            "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres' "
            "ORDER BY 1")]
    finally:
        await conn.close()


def dsn_of(admin_dsn: str, database: str) -> str:
    base, _, rest = admin_dsn.rpartition("/")
    query = rest.partition("?")[2]
    return f"{base}/{database}" + (f"?{query}" if query else "")


async def scan_database(scanner: Scanner, dsn: str, name: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        columns = await conn.fetch(
            """SELECT c.table_schema, c.table_name, c.column_name, c.data_type
               FROM information_schema.columns c JOIN information_schema.tables t
                 USING (table_schema, table_name)
               WHERE t.table_type = 'BASE TABLE'
                 AND c.table_schema NOT IN ('pg_catalog', 'information_schema')
               ORDER BY 1, 2, 3""")
        tables: dict[tuple[str, str], list[str]] = {}
        for c in columns:
            if c["data_type"] not in TEXT_TYPES:
                continue
            if SKIP_COLUMNS.search(c["column_name"]):
                scanner.report.scanned["encrypted columns skipped"] += 1
                continue
            tables.setdefault((c["table_schema"], c["table_name"]), []).append(c["column_name"])
        for (schema, table), cols in tables.items():
            scanner.report.scanned["tables"] += 1
            scanner.report.scanned["columns"] += len(cols)
            select = ", ".join(f'"{c}"' for c in cols)
            async with conn.transaction():
                async for row in conn.cursor(f'SELECT {select} FROM "{schema}"."{table}"', prefetch=2000):
                    scanner.report.scanned["rows"] += 1
                    for col, value in zip(cols, row.values()):
                        if value is None:
                            continue
                        data = value if isinstance(value, bytes) else str(value)
                        scanner.check(data, f"database {name}.{table}.{col}")
    finally:
        await conn.close()


def walk_files(folders: Iterable[Path]) -> Iterable[Path]:
    for folder in folders:
        if not folder.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(folder):
            if Path(dirpath).name == PG_DIR and (Path(dirpath) / "PG_VERSION").exists():
                dirnames[:] = []
                filenames = [f for f in filenames if f.endswith(".log")]
            dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
            for f in filenames:
                yield Path(dirpath) / f


def check_private(scanner: Scanner, path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    folder = stat.S_IMODE(path.parent.stat().st_mode)
    if mode & 0o077 or folder & 0o077:
        scanner.report.findings.append(Finding(
            f"permissions {path} (file {mode:04o}, folder {folder:04o}; want 0600 in 0700)",
            "readable by others", "0000"))


async def scan(bootstrap: str, admin_dsn: str, folders: list[Path],
               auth: KafkaAuth = PLAINTEXT, known: Iterable[tuple[str, str]] = (),
               planted: Iterable[tuple[str, str]] = ()) -> Report:
    """Scan every database, topic and file; `known`: more (kind, value) pairs to look for;
    `planted`: (where it starts with, value) pairs a test put there on purpose."""
    scanner = Scanner(planted)
    for kind, value in known:
        scanner.know(value, kind)
    topics = await read_topics(bootstrap, auth)
    await learn_from_enrollments(scanner, topics.get(ENROLLMENT_V1, []))
    databases = await database_names(admin_dsn)
    for name in databases:
        conn = await asyncpg.connect(dsn_of(admin_dsn, name))
        try:
            if await conn.fetchval("SELECT to_regclass('methods') IS NOT NULL AND EXISTS ("
                                   "SELECT 1 FROM information_schema.columns WHERE table_name = "
                                   "'methods' AND column_name = 'account_ciphertext')"):
                await learn_from_payments(scanner, conn)
        finally:
            await conn.close()
    files = sorted(set(walk_files(folders)))
    for path in files:
        if path.suffix == ".ach" or path.name.endswith(".ach.part"):
            learn_from_ach(scanner, path)
    scanner.count_known()

    for name in databases:
        scanner.report.scanned["databases"] += 1
        await scan_database(scanner, dsn_of(admin_dsn, name), name)
    for topic, records in topics.items():
        scanner.report.scanned["topics"] += 1
        allowed = {SSN} if topic == ENROLLMENT_V1 else set()
        for r in records:
            scanner.report.scanned["records"] += 1
            where = f"topic {topic} (partition {r.partition}, offset {r.offset})"
            scanner.check(r.value or b"", where, allowed)
            scanner.check(r.key or b"", where, allowed)
            for _, header in r.headers or ():
                scanner.check(header or b"", where, allowed)
    for path in files:
        kind = ("ACH files" if path.suffix == ".ach" or path.name.endswith(".ach.part")
                else "archive files" if path.suffix == ".enc"
                else "emails" if path.suffix == ".eml"
                else "SMS files" if path.name == "messages.jsonl" else "files")
        scanner.report.scanned[kind] += 1
        if kind in ("ACH files", "archive files"):
            check_private(scanner, path)
        if kind == "archive files":
            continue  # ciphertext; the permission is what can be checked here
        try:
            data = path.read_bytes()
        except OSError:
            continue
        scanner.check(data, f"file {path}", {ACCOUNT} if kind == "ACH files" else ())
    return scanner.report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kafka", default=os.environ.get("TEST_KAFKA_BOOTSTRAP", "127.0.0.1:19092"))
    parser.add_argument("--pg-admin-dsn", default=os.environ.get(
        "TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:55433/postgres"))
    parser.add_argument("--dir", action="append", type=Path, default=[],
                        help="a folder of logs and files to scan (repeatable)")
    parser.add_argument("--known", type=Path, action="append", default=[],
                        help='a file of more values to look for, one "ssn|account|card VALUE" a line')
    parser.add_argument("--planted", type=Path, action="append", default=[],
                        help='values tests plant on purpose: "<where it starts with> | VALUE" a line')
    args = parser.parse_args(argv)
    planted = [(w.strip(), v.strip()) for f in args.planted for w, _, v in
               (line.partition("|") for line in f.read_text().splitlines()
                if line.strip() and not line.startswith("#"))]
    kinds = {"ssn": SSN, "account": ACCOUNT, "card": CARD}
    known = [(kinds[k], v) for f in args.known for k, _, v in
             (line.strip().partition(" ") for line in f.read_text().splitlines() if line.strip())]
    report = asyncio.run(scan(args.kafka, args.pg_admin_dsn, args.dir or [ROOT / ".state" / "test"],
                              known=known, planted=planted))
    print("\n".join(report.lines()), flush=True)
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
