"""Log-in throttling rules of portal accounts. No I/O.

Wrong passwords are counted per username and client address (`pair`) and per username
alone (`user`, across every address, with a higher threshold). From the `after`-th failure
in a row, log-ins for that subject pause for a delay that doubles with each further failure,
up to a cap. Names that have no account are counted exactly alike, so the answers never
say which usernames exist, and a stranger guessing from elsewhere delays the member at
most by the capped account-wide pause, never locks them out.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    after: int      # the failure that starts the first pause
    base_s: int     # the first pause
    max_s: int      # pauses never grow past this

    def delay_s(self, failures: int) -> int:
        """Seconds log-ins pause after `failures` wrong passwords in a row (0: none)."""
        if failures < self.after:
            return 0
        return min(self.max_s, self.base_s * (1 << min(failures - self.after, 30)))  # doubling

    def starts_pausing(self, failures: int) -> bool:
        """This failure is the one that starts the pauses (when the member is told)."""
        return failures == self.after
