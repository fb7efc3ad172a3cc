"""The secrets scanner (scripts/scan_secrets.py, the last step of `make test`) finds a full
SSN, account or card number planted in a database, a topic or a file, and an ACH file that
others can read; and finds nothing of the sort where none was planted."""
from __future__ import annotations

import os
import shutil

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from scripts.scan_secrets import ACCOUNT, CARD, SSN, scan
from shared.kafka import ensure_topics
from tests.conftest import unique

SSN_VALUE, ACCOUNT_VALUE, CARD_VALUE = "219099999", "000123456789", "4111111111111111"


def ours(report, *marks: str) -> list[str]:
    """Findings at the places this test planted (other tests' data may be scanned too)."""
    return sorted(f"{f.kind} @ {f.where}" for f in report.findings
                  if any(m in f.where for m in marks))


async def test_the_scanner_finds_what_was_planted_and_nothing_else(infra, fresh_db, tmp_path):
    database = fresh_db.rsplit("/", 1)[1]
    topic = f"test.scan.{unique()}"
    known = [(SSN, SSN_VALUE), (ACCOUNT, ACCOUNT_VALUE)]
    await ensure_topics(infra.kafka_bootstrap, extra={topic: 1})
    conn = await asyncpg.connect(fresh_db)
    await conn.execute("""CREATE TABLE things (id int, note text, payload jsonb, blob bytea,
                                               account_ciphertext bytea)""")
    await conn.execute("INSERT INTO things VALUES (1, 'member 100-20-3000 called', '{}', NULL, $1)",
                       ACCOUNT_VALUE.encode())  # a column named as ciphertext is not read
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "service.log").write_text("order 1234567 for 2026-03-02\n")
    folder = tmp_path / "ach"
    folder.mkdir(mode=0o700)
    good = folder / "PAYMENTS_20260302_A.ach"
    good.write_text("6" + "27" + "01100001" + "5" + ACCOUNT_VALUE.ljust(17) + "0" * 64 + "\n")
    os.chmod(good, 0o600)
    try:
        clean = await scan(infra.kafka_bootstrap, infra.pg_admin_dsn, [tmp_path], known=known)
        assert ours(clean, database, topic, str(tmp_path)) == []
        assert clean.scanned["databases"] >= 1 and clean.scanned["topics"] >= 1
        assert clean.scanned["ACH files"] == 1 and clean.scanned["files"] == 1

        # Now plant one of each where it does not belong.
        await conn.execute("INSERT INTO things VALUES (2, $1, $2, $3, NULL)",
                           f"typed {SSN_VALUE[:3]}-{SSN_VALUE[3:5]}-{SSN_VALUE[5:]}",
                           f'{{"card": "{CARD_VALUE}"}}', f"acct={ACCOUNT_VALUE}".encode())
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, f'{{"ssn": "{SSN_VALUE}", "ref": "PMT-{CARD_VALUE}"}}'.encode(),
                                         key=b"k")
        finally:
            await producer.stop()
        (tmp_path / "logs" / "service.log").write_text(f"charge card {CARD_VALUE} declined\n")
        loose = tmp_path / "RETURNS_OPEN.ach"
        loose.write_text("no entries\n")
        os.chmod(loose, 0o644)

        found = await scan(infra.kafka_bootstrap, infra.pg_admin_dsn, [tmp_path], known=known)
        assert ours(found, database, topic, str(tmp_path)) == sorted([
            f"{ACCOUNT} @ database {database}.things.blob",
            f"{CARD} @ database {database}.things.payload",
            f"{SSN} @ database {database}.things.note",
            f"{SSN} @ topic {topic} (partition 0, offset 0)",
            f"{CARD} @ file {tmp_path / 'logs' / 'service.log'}",
            f"readable by others @ permissions {loose} (file 0644, folder "
            f"{os.stat(tmp_path).st_mode & 0o777:04o}; want 0600 in 0700)",
        ])
        # The account number in the owner-only NACHA file is where it belongs.
        assert not ours(found, str(good))
        # Findings never print the value itself.
        assert all(SSN_VALUE not in str(f) and CARD_VALUE not in str(f) for f in found.findings)
    finally:
        await conn.close()
        shutil.rmtree(tmp_path / "logs")  # the suite's own final scan must not see them
        loose_file = tmp_path / "RETURNS_OPEN.ach"
        loose_file.unlink(missing_ok=True)
        admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([topic])  # the suite's own final scan must not see it
        finally:
            await admin.close()


def test_card_numbers_inside_ids_are_not_cards_and_planted_values_are_counted_apart():
    from scripts.scan_secrets import Scanner

    scanner = Scanner(planted=[("topic payments.v1", CARD_VALUE)])
    scanner.check("msg f21d4e3735364141943ee28a37c37346, ref PMT-4156959155224380", "file a")
    assert scanner.report.findings == []  # a hex id's digits and a payment reference
    scanner.check(f'{{"reason": "card {CARD_VALUE}"}}', "topic payments.v1 (partition 1, offset 27)")
    scanner.check(f"card {CARD_VALUE}", "topic billing.v1 (partition 0, offset 3)")
    scanner.check("paid with 4242424242424242", "file b")  # the card sandbox's test number
    assert [(f.where.split(" (")[0], f.kind) for f in scanner.report.findings] == [
        ("topic billing.v1", CARD), ("file b", CARD)]
    assert [f.where for f in scanner.report.planted] == ["topic payments.v1 (partition 1, offset 27)"]
