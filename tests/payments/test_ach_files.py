"""ACH files hold full account numbers: the NACHA file, the bank's return file and the
payments archive are owner-only, and the archive is encrypted yet reads back whole."""
from __future__ import annotations

import stat
from datetime import date
from pathlib import Path

import pytest

from sandboxes.mail import MailStore
from sandboxes.sms import SmsStore
from services.payments.adapters.ach_archive import AchArchive, ArchiveError
from services.payments.service_layer import ach
from tests.payments.conftest import bank_method, new_account, new_ban

MON, THU = date(2026, 4, 6), date(2026, 4, 9)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_nacha_return_and_archive_files_are_owner_only_and_the_archive_encrypted(payments_env):
    env = payments_env
    env.clock.set(MON)
    accounts = {new_account("00"), new_account("01")}
    for account in accounts:
        ban = new_ban()
        await env.open_account(ban, {2026: 4200})
        status, body = await env.pay({"billing_account_number": ban, "kind": "one_time",
                                      "amount": "total", "method": bank_method(account)})
        assert status == 201, body

    result = await ach.run_cutoff(env.deps, MON)
    sent = Path(result["path"])
    assert (mode(sent), mode(sent.parent)) == (0o600, 0o700)
    text = sent.read_bytes()
    assert all(a.encode() in text for a in accounts)

    archive = AchArchive(env.settings.ach_archive, env.settings.ach_archive_key)
    stored = archive.path(sent.name)
    assert (mode(stored), mode(stored.parent)) == (0o600, 0o700)
    assert not any(a.encode() in stored.read_bytes() for a in accounts)
    assert archive.read(sent.name) == text  # reads back whole

    [report] = env.bank.poll_once()
    returned = Path(env.settings.ach_returns_dir) / report["return_file"]
    assert (mode(returned), mode(returned.parent)) == (0o600, 0o700)
    assert (await ach.run_returns(env.deps, THU))["returns"] == 1
    assert archive.read(returned.name) == returned.read_bytes()
    assert await ach.verify_archive(env.deps) == {"files": 2, "problems": []}

    # A damaged archive copy or another key is caught, never returned as data.
    blob = bytearray(stored.read_bytes())
    blob[-1] ^= 1
    stored.write_bytes(bytes(blob))
    verified = await ach.verify_archive(env.deps)
    assert [p["file"] for p in verified["problems"]] == [sent.name]
    with pytest.raises(ArchiveError):
        AchArchive(archive.directory, "another key").read(returned.name)


def test_archive_streams_files_of_several_chunks(tmp_path):
    archive = AchArchive(tmp_path / "archive", "k")
    raw = bytes(range(256)) * 9000  # more than two 1 MiB chunks
    (tmp_path / "f").write_bytes(raw)
    archive.store_file("F.ach", tmp_path / "f")
    assert archive.read("F.ach") == raw
    cut = archive.path("F.ach")
    cut.write_bytes(cut.read_bytes()[: 2 * (1 << 20)])  # the last chunk(s) dropped
    with pytest.raises(ArchiveError):
        archive.read("F.ach")


def test_captured_mail_and_sms_files_are_owner_only(tmp_path):
    mail = MailStore(tmp_path / "mail")
    item = mail.add(b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n",
                    "a@example.org", ["b@example.org"])
    sms = SmsStore(tmp_path / "sms")
    sms.add("+16175550100", "hello")
    for path in (tmp_path / "mail" / f"{item['id']}.eml", tmp_path / "mail" / f"{item['id']}.json",
                 tmp_path / "sms" / "messages.jsonl"):
        assert (mode(path), mode(path.parent)) == (0o600, 0o700), path
