"""Quarantine of a failing SIM (smstools3's blockafter/blocktime): after `quarantine_after` failed sends in a row, the
modem sends nothing for `quarantine_time` seconds; each quarantine again without a success in between doubles the
pause, up to `quarantine_max`. A success ends the streak and the doubling.

Which failures count (counts_against_sim): those that say something about the SIM, its subscription or the
network it is on, following FIELD-NOTES 2.2 and the classes of domain/error_codes.py:
  count      TRANSIENT (CMS 38/41/42/47 network out of order, temporary failure, congestion; 331 no network
             service; 300 ME failure; 500 unknown; vendor codes; timeouts before the payload the modem did answer
             for), AMBIGUOUS (CMS 332 network timeout, a timeout after the payload), DEVICE_STATE (barring, no SMS
             subscription, SIM errors: the worker pauses the modem for device_pause too, and a SIM that keeps
             answering so is quarantined for longer), UNKNOWN (a bare ERROR, codes in no table), and CMS 21 "SM
             transfer rejected": PERMANENT for the message, but repeated it is the operator's spam filter or
             barring on this SIM (FIELD-NOTES: "S if it repeats").
  neutral    the message's own PERMANENT errors (an invalid or barred number, an unsupported encoding: another SIM
             would get the same answer) and CMS 197 (the SC already had it: a success). They neither count nor end
             the streak. Neither do a modem that is gone or does not answer (offline, not_responding): its state
             says so already, the supervisor brings it back, and the try was refunded.
After a quarantine the streak is not reset: the first send afterwards is a probe, and if it fails too, the modem is
quarantined again at once, for twice as long (a circuit breaker's half-open state), instead of burning
`quarantine_after` more messages' tries.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from ...domain.errors import CmsError, ErrorClass, classify

# CMS 21, SM transfer rejected: PERMANENT for the message, a SIM problem when it repeats (FIELD-NOTES 2.2).
REJECTED_REPEATEDLY = 21


def counts_against_sim(exc: BaseException) -> bool:
    """Does this send failure count towards quarantining the modem? (The module docstring has the rules.)"""
    if isinstance(exc, CmsError) and exc.code == REJECTED_REPEATEDLY:
        return True
    if isinstance(exc, CmsError) and exc.code == 197:
        return False
    return classify(exc) is not ErrorClass.PERMANENT


class Quarantine:
    """One modem's streak of failed sends and its quarantine. Times are epoch seconds (time.time())."""

    def __init__(self, after: int, first: float, longest: float):
        self.after, self.first, self.longest = after, first, longest
        self.streak = 0                 # failures in a row that count
        self.codes: Counter[str] = Counter()   # their error codes, for the reason
        self.times = 0                  # quarantines since the last success
        self.until = 0.0

    def failed(self, code: str, now: float) -> float | None:
        """A failure that counts. Returns the pause if this failure put the modem in quarantine, else None."""
        self.streak += 1
        self.codes[code] += 1
        if self.after <= 0 or self.streak < self.after or now < self.until:
            return None
        pause = min(self.longest, self.first * 2 ** self.times)
        self.times += 1
        self.until = now + pause
        return pause

    def succeeded(self) -> None:
        self.streak, self.times, self.until = 0, 0, 0.0
        self.codes.clear()

    def active(self, now: float) -> bool:
        return now < self.until

    @property
    def reason(self) -> str:
        """The streak's error codes, the most frequent first: "CMS 38" or "CMS 38, CMS 41"."""
        return ", ".join(code for code, _ in self.codes.most_common())

    def text(self) -> str:
        """"quarantined until 14:03:07 (5 failures in a row: CMS 38)"."""
        until = datetime.fromtimestamp(self.until).strftime("%H:%M:%S")
        return f"quarantined until {until} ({self.streak} failures in a row: {self.reason})"

    def as_dict(self, now: float) -> dict | None:
        """{until, failures, reason} while quarantined, else None."""
        if not self.active(now):
            return None
        return {"until": self.until, "failures": self.streak, "reason": self.reason}
