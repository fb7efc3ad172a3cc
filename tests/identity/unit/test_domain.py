"""Identity's rules without I/O: names, dates, IDs, the lookup decision, log-in throttling, passwords."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from services.identity.domain import values as v
from services.identity.domain.accounts import Backoff
from services.identity.domain.lookup import AccountNotReady, Candidate, Found, NotFound, NotYetPayable, decide
from services.identity.domain.passwords import PasswordPolicy, load_common_passwords

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
FOUR_HOURS = timedelta(hours=4)


def candidate(**overrides) -> Candidate:
    fields = dict(member_id="m1", first_name="José", first_name_norm=v.normalize_name("José"),
                  last_name_norm=v.normalize_name("O'Brien"), date_of_birth=date(1990, 7, 4),
                  billing_account_number="7000000001", enrollment_ids=("3300100001",),
                  earliest_shopped_at=NOW - timedelta(days=1), email=None, phone=None, language="en")
    fields.update(overrides)
    return Candidate(**fields)


@pytest.mark.parametrize("name", ["Maria", "O'Brien", "Mary-Jane", "St. John", "José", "Nguyễn", "李"])
def test_real_names_are_accepted(name):
    assert v.check_name(f"  {name} ") == name


@pytest.mark.parametrize("name,message", [
    ("", "required"), ("   ", "required"), ("a" * 101, "at most 100"), ("Ma\tria", "control"),
    ("Robert'); DROP TABLE", "only letters"), ("R2D2", "only letters"), ("'-.", "letters")])
def test_bad_names_are_refused(name, message):
    with pytest.raises(ValueError, match=message):
        v.check_name(name)


def test_names_compare_without_case_or_surrounding_spaces():
    assert v.normalize_name("  maría ") == v.normalize_name("MARÍA")
    assert v.normalize_name("Maria") != v.normalize_name("M")


@pytest.mark.parametrize("typed,enrolled", [
    ("O\u2019Brien", "O'Brien"), ("O'Brien", "O\u2019Brien"), ("Maria", "María"), ("MARIA", "María"),
    ("Mary\u2013Jane", "Mary-Jane"), ("Mary\u2014Jane", "Mary-Jane"), ("Nguyen", "Nguyễn"),
    ("Jose", "Jose\u0301"), ("St.  John", "St. John"), ("Zoe", "Zoë")])
def test_names_as_phones_type_them_compare_the_same(typed, enrolled):
    assert v.check_name(typed)
    assert v.normalize_name(typed) == v.normalize_name(enrolled)


@pytest.mark.parametrize("typed,enrolled", [
    ("M", "María"), ("OBrien", "O'Brien"), ("Mary Jane", "Mary-Jane"), ("Marie", "María"), ("J", "José")])
def test_folding_keeps_initials_and_other_names_apart(typed, enrolled):
    assert v.normalize_name(typed) != v.normalize_name(enrolled)


@pytest.mark.parametrize("text,message", [
    ("1899-13-40", "real calendar date"), ("2023-02-29", "real calendar date"),
    ("2026-11-24", "future"), ("1899-12-31", "1900"), ("15/03/1984", "YYYY-MM-DD"), ("1984-3-15", "YYYY-MM-DD")])
def test_bad_birth_dates_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        v.check_birth_date(text, date(2026, 11, 23))


def test_birth_dates_today_and_on_a_leap_day_are_fine():
    assert v.check_birth_date("2026-11-23", date(2026, 11, 23)) == date(2026, 11, 23)
    assert v.check_birth_date("2024-02-29", date(2026, 11, 23)) == date(2024, 2, 29)


def test_ids_keep_their_shape():
    assert v.check_ssn("123-45-6789") == "123456789"
    assert v.check_ban(" 7123456787 ") == "7123456787"
    with pytest.raises(ValueError, match="check the digits"):
        v.check_ban("7123456789")  # the last digit is not the check digit
    for foreign in ("٧١٢٣٤٥٦٧٨٧", "７１２３４５６７８７", "٠١٢-٣٤-٥٦٧٨"):
        with pytest.raises(ValueError):
            v.check_ban(foreign)
        with pytest.raises(ValueError):
            v.check_ssn(foreign)
    for bad in ("12345678", "1234567890", "12-345-6789", "abcdefghi"):
        with pytest.raises(ValueError):
            v.check_ssn(bad)
    with pytest.raises(ValueError, match="begins with the number 7"):
        v.check_ban("8123456789")
    with pytest.raises(ValueError, match="10 digits"):
        v.check_ban("712345678")


def test_lookup_finds_a_match_and_nothing_else():
    c = candidate()
    assert decide([c], "josé", " o'brien ", date(1990, 7, 4), NOW, FOUR_HOURS) == Found(c)
    assert decide([c], "Jose", "O\u2019Brien", date(1990, 7, 4), NOW, FOUR_HOURS) == Found(c)
    for first, last, born in (("Joe", "O'Brien", date(1990, 7, 4)), ("José", "OBrien", date(1990, 7, 4)),
                              ("José", "O'Brien", date(1990, 7, 5)), ("J", "O'Brien", date(1990, 7, 4))):
        assert decide([c], first, last, born, NOW, FOUR_HOURS) == NotFound()
    # A row stored before folding (NFC, case-folded only) still matches the folded form.
    old = candidate(first_name_norm="maría", last_name_norm="o\u2019brien")
    assert decide([old], "Maria", "O'Brien", date(1990, 7, 4), NOW, FOUR_HOURS) == Found(old)
    assert decide([], "José", "O'Brien", date(1990, 7, 4), NOW, FOUR_HOURS) == NotFound()
    assert decide([candidate(enrollment_ids=())], "José", "O'Brien", date(1990, 7, 4), NOW,
                  FOUR_HOURS) == NotFound()


def test_four_hour_rule_on_both_sides():
    shopped = NOW - FOUR_HOURS
    at_edge = candidate(earliest_shopped_at=shopped)
    assert decide([at_edge], "José", "O'Brien", date(1990, 7, 4), NOW, FOUR_HOURS) == Found(at_edge)
    just_before = candidate(earliest_shopped_at=shopped + timedelta(seconds=1))
    assert decide([just_before], "José", "O'Brien", date(1990, 7, 4), NOW, FOUR_HOURS) == \
        NotYetPayable(NOW + timedelta(seconds=1))
    # Registration does not wait for the 4 hours, nor for the billing account.
    assert isinstance(decide([just_before], "José", "O'Brien", date(1990, 7, 4), NOW, FOUR_HOURS,
                             check_payable=False, need_account=False), Found)


def test_no_billing_account_number_yet():
    c = candidate(billing_account_number=None)
    assert decide([c], "José", "O'Brien", date(1990, 7, 4), NOW, FOUR_HOURS) == AccountNotReady()


def test_log_ins_pause_from_the_limit_for_a_delay_that_doubles_up_to_the_cap():
    rule = Backoff(after=5, base_s=30, max_s=900)
    assert [rule.delay_s(n) for n in range(1, 11)] == [0, 0, 0, 0, 30, 60, 120, 240, 480, 900]
    assert rule.delay_s(10_000) == 900
    assert [n for n in range(1, 20) if rule.starts_pausing(n)] == [5]


@pytest.fixture(scope="module")
def policy() -> PasswordPolicy:
    return PasswordPolicy(load_common_passwords(), min_length=12)


def test_the_shipped_list_is_large_and_has_the_usual_suspects(policy):
    assert len(policy.common) >= 10_000
    assert {"123456", "password", "qwerty", "iloveyou"} <= policy.common


@pytest.mark.parametrize("password", [
    "correct horse battery staple", "Tr0ub4dor&3xyz", "mi contraseña es larga", "aaaa bbbb cccc d"])
def test_long_uncommon_passwords_pass_without_composition_rules(policy, password):
    assert policy.problems(password, "maria") == []


@pytest.mark.parametrize("password,problem", [
    ("short pass", "at least 12"), ("password1234", "too common"), ("1234567890123", "sequential"), ("zyxwvutsrqponm", "sequential"),
    ("!!iloveyou2024", "too common"), ("qwertyqwertyqwerty", "too common"),
    ("123qweasdzxc", "too common"), ("aaaaaaaaaaaaaa", "too few"),
    ("my MariaS password!", "username"), ("x" * 200, "at most 128")])
def test_weak_passwords_are_refused(policy, password, problem):
    [found] = policy.problems(password, "mariaS")
    assert problem in found
