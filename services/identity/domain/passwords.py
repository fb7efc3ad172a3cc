"""Password rules after NIST SP 800-63B: a long minimum, no composition rules, and a refusal
of passwords that are common, known from breaches, or built from the username. No I/O."""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from pathlib import Path

DEFAULT_LIST = Path(__file__).resolve().parent.parent / "data" / "common_passwords.txt"
_PADDING = "0123456789!@#$%^&*()_+-=.,?~ "
_SEQUENCES = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm")


def _is_sequence(low: str) -> bool:
    """"1234567890123", "zyxwvutsrqpo": a run along the digits, the alphabet or a keyboard."""
    for seq in _SEQUENCES:
        ring = seq * (len(low) // len(seq) + 2)
        if low in ring or low in ring[::-1]:
            return True
    return False


def load_common_passwords(path: Path = DEFAULT_LIST) -> frozenset[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


class PasswordPolicy:
    """Checks a candidate password; `problems()` lists what is wrong in plain words."""

    def __init__(self, common: Iterable[str], min_length: int = 12, max_length: int = 128) -> None:
        assert 8 <= min_length < max_length
        self.common = frozenset(common)
        self.min_length = min_length
        self.max_length = max_length

    @staticmethod
    def normalize(password: str) -> str:
        """NFKC, as 800-63B asks, so the same password typed on another device matches."""
        return unicodedata.normalize("NFKC", password)

    def problems(self, password: str, username: str | None = None) -> list[str]:
        pw = self.normalize(password)
        if len(pw) < self.min_length:
            return [f"must be at least {self.min_length} characters"]
        if len(pw) > self.max_length:
            return [f"must be at most {self.max_length} characters"]
        if any(unicodedata.category(c) == "Cc" for c in pw):
            return ["must not contain control characters"]
        low = pw.lower()
        if username and len(username) >= 3 and username.lower() in low:
            return ["must not contain your username"]
        if self._is_common(low):
            return ["is too common: it appears in lists of breached passwords"]
        if len(set(low)) < 4:
            return ["repeats too few characters"]
        if _is_sequence(low):
            return ["is a run of sequential characters, easy to guess"]
        return []

    def _is_common(self, low: str) -> bool:
        if low in self.common:
            return True
        # "password2024!", "2024password": a common word padded with digits or symbols.
        core = low.strip(_PADDING)
        if len(core) >= 4 and core in self.common:
            return True
        # "passwordpassword", "qwertyqwerty": a common word repeated.
        for size in range(3, len(low) // 2 + 1):
            if len(low) % size == 0 and low[:size] * (len(low) // size) == low:
                return low[:size] in self.common or core[:size] in self.common
        return False
