"""One-time passcodes: issue (code, keyed hash, expiry, limits, queued SMS in one transaction) and verify.

Why a keyed hash: a plain SHA-256 of a 6-digit code is reversed by trying all 10^6 codes; HMAC-SHA256 with a
server secret (never in the database) is not. The code lives only in memory for the time it takes to render the
SMS text; it never reaches a log, an error body, metrics or the database (the queued SMS text is purged when sent).
Defaults follow FIELD-NOTES 1: 6 digits, 5 minutes, 5 checks per code, 3 sends per number per 10 minutes,
a persistent lock after 100 consecutive failures per number (NIST SP 800-63B 5.2.2).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable
from pathlib import Path

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from ..config.model import MIN_SECRET, OTP_LENGTHS, OTP_TTLS
from ..config.reader import ConfigError
from ..domain.numbers import country_of
from ..domain.otp_seal import SealBroken, Sealer
from ..domain.policy import DEFAULT_TEMPLATE, OtpError, OtpSettings, check_template, render
from ..domain.sms import Kind, OutboundSms, Priority, new_message_id
from ..store import Limit, OtpStore, PendingCode, RateLimited, Verification, VerifyOutcome

log = logging.getLogger(__name__)

SECRET_FILE = "otp-secret"
VERIFY_APP_WINDOW = 60.0          # seconds over which verifies_per_app counts
CREDENTIAL_NAME = "modemd-otp-secret"


# A pending code is sent again while it stays valid at least this long after the new send: one about to expire
# would reach the phone dead, so it is replaced by a new code instead.
RESEND_MIN_LEFT = 30.0


@dataclass(frozen=True)
class IssuedOtp:
    id: str
    to: str
    expires_at: float
    message_id: str               # the SMS of this send
    sends: int = 1                # the SMS this code went out in, this one included (1: a new code)
    created_at: float = 0.0       # when the code was made (a resend's is its first send's)


def load_secret(state_dir: Path) -> bytes:
    """The OTP key: a systemd credential if given, else 32 random bytes made once in the state dir (0600, written
    and fsynced before it is used, so a crash cannot leave a short key that every later code depends on).
    Raises ConfigError for a key shorter than MIN_SECRET bytes, or a file other users could read."""
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / CREDENTIAL_NAME).is_file():
        return _checked(f"credential {CREDENTIAL_NAME}", (Path(cred_dir) / CREDENTIAL_NAME).read_bytes().strip())
    path = state_dir / SECRET_FILE
    if not path.exists():
        _create_secret(path)
    if os.stat(path).st_mode & 0o077:
        raise ConfigError(str(path), "the OTP secret must be readable by its owner only: chmod 600 it")
    return _checked(str(path), path.read_bytes())


def _checked(source: str, secret: bytes) -> bytes:
    if len(secret) < MIN_SECRET:
        raise ConfigError(source, f"the OTP secret must be at least {MIN_SECRET} bytes, found {len(secret)} (an "
                                  "empty or cut file: remove it to have a new one made, which voids pending codes)")
    return secret


def _create_secret(path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, secrets.token_bytes(32))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)      # never replaces: if another process made one meanwhile, theirs wins
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def region_of(e164: str) -> str | None:
    """country_of(e164), without parsing the number again when its country code belongs to a single region (203 of
    the 215 codes; +1, +7, +44 and the other shared ones are parsed). `e164` is a number normalize() returned."""
    if e164[:1] == "+" and e164[1:2] != "0":
        for n in (2, 3, 4):                    # country codes are 1-3 digits and prefix-free (ITU-T E.164)
            prefix = e164[1:n]
            if not (prefix.isascii() and prefix.isdigit()):
                break
            regions = COUNTRY_CODE_TO_REGION_CODE.get(int(prefix))
            if regions is not None:
                if len(regions) == 1:
                    return regions[0]
                break
    return country_of(e164)


def new_code(length: int) -> str:
    """`length` digits, uniform over all 10^length codes (one call into the OS random source, not one per digit)."""
    return f"{secrets.randbelow(10 ** length):0{length}d}"


class OtpService:
    def __init__(self, store: OtpStore, secret: bytes, settings: OtpSettings = OtpSettings(), *,
                 clock: Callable[[], float] = time.time):
        self.store = store
        self._clock = clock              # injected by bench/bench_growth.py to run a month in minutes
        # Checks per app in the last minute, in memory: a limit on junk (ids that never existed) must not write a
        # row per junk call, and a restart forgetting it costs at most one minute's allowance.
        self._checks: dict[str, deque[float]] = {}
        self._secret = secret
        self._sealer = Sealer(secret)
        self.settings = settings

    def reveal(self, sms: OutboundSms) -> str:
        """The text to put on the wire: an OTP's sealed text opened (raises SealBroken), any other as stored."""
        return self._sealer.open(sms.text or "", sms.id) if sms.kind is Kind.OTP else sms.text or ""

    def _mac(self, verification_id: str, code: str) -> bytes:
        return hmac.digest(self._secret, f"{verification_id}:{code}".encode(), hashlib.sha256)

    async def issue(self, to: str, *, token_id: str, ttl: int | None = None, length: int | None = None,
                    template: str | None = None, app: str = "default", bound: int | None = None,
                    extra_limits: list[Limit] = (), code: str | None = None, route: str | None = None) -> IssuedOtp:
        """Raises OtpError (bad input / country not allowed) or RateLimited. `to` is already E.164. `code`: the
        caller's own code (digits, an allowed length), else one is made. `route`: the modems its SMS may go
        through (domain.routing; None: any), for a resend of the same code too.

        The same code on resend (as Twilio Verify does): while the app's code for this number is pending and valid
        for RESEND_MIN_LEFT more seconds, a new send sends that code again, under the same verification id and
        expiry, instead of a new one. Minting a new code each time made a slow first SMS arrive with a code that no
        longer worked: the user typed it and it counted as a wrong attempt. A caller's own code, or another length,
        makes a new code (the pending one is superseded). Every send counts against the same limits."""
        s = self.settings
        ttl, template = ttl or s.ttl, template or s.template
        if code is not None and not (code.isascii() and code.isdigit()):
            raise OtpError("code", "digits only")
        length = len(code) if code is not None else length or s.length
        country = region_of(to)                   # for the allow-list and the daily cap
        self._check_request(country, ttl, length, template)
        now = self._clock()
        limits = self._send_limits(to, country, token_id, app) + list(extra_limits)
        resend_until = now + RESEND_MIN_LEFT if code is None else None
        verification, message = self._new_code(to, code or new_code(length), now, ttl, template, app, route)
        pending = await self.store.issue(verification, message, limits, bound, resend_until=resend_until)
        if pending is None:
            return IssuedOtp(verification.id, to, verification.expires_at, message.id, 1, now)
        again = self._open_code(pending, length)
        if again is not None:
            message = self._sms(to, again, now, pending.expires_at, template, app, route)
            sends = await self.store.resend(pending.id, message, limits, bound, now=now, valid_after=resend_until,
                                            app=app)
            if sends is not None:
                return IssuedOtp(pending.id, to, pending.expires_at, message.id, sends, pending.created_at)
        # The pending code cannot be sent again (another length, a seal the secret no longer opens, or it was used
        # or expired meanwhile): a new code, which supersedes it.
        verification, message = self._new_code(to, code or new_code(length), now, ttl, template, app, route)
        await self.store.issue(verification, message, limits, bound)
        return IssuedOtp(verification.id, to, verification.expires_at, message.id, 1, now)

    def _new_code(self, to: str, code: str, now: float, ttl: int, template: str, app: str, route: str | None
                  ) -> tuple[Verification, OutboundSms]:
        verification_id = "otp_" + new_message_id(now)[4:]
        message = self._sms(to, code, now, now + ttl, template, app, route)
        return Verification(id=verification_id, destination=to, code_hmac=self._mac(verification_id, code),
                            created_at=now, expires_at=now + ttl, attempts=0, max_attempts=self.settings.max_attempts,
                            status="pending", message_id=message.id, app=app,
                            code_sealed=self._sealer.seal(code, verification_id)), message

    def _sms(self, to: str, code: str, now: float, expires_at: float, template: str, app: str,
             route: str | None) -> OutboundSms:
        """The SMS carrying `code`, its text sealed until the outbox sends it; it is not sent after the code
        expires. The text gives the minutes the code is still valid for."""
        message_id = new_message_id(now)
        text = render(template, code=code, app=self.settings.app, minutes=max(1, int(expires_at - now) // 60))
        return OutboundSms(id=message_id, to=to, kind=Kind.OTP, priority=Priority.HIGH,
                           text=self._sealer.seal(text, message_id), parts=1, next_attempt_at=now,
                           deadline=expires_at, created_at=now, updated_at=now, app=app, route=route)

    def _open_code(self, pending: PendingCode, length: int) -> str | None:
        """The pending code, if it can be sent again as asked: None for another length, or a seal that does not
        open (the OTP secret was replaced since)."""
        try:
            code = self._sealer.open(pending.code_sealed, pending.id)
        except SealBroken:
            log.warning("otp %s: its sealed code does not open (was the OTP secret replaced?); sending a new code",
                        pending.id)
            return None
        return code if len(code) == length else None

    def _check_request(self, country: str | None, ttl: int, length: int, template: str) -> None:
        if not OTP_LENGTHS[0] <= length <= OTP_LENGTHS[1]:
            raise OtpError("length", "from %d to %d digits" % OTP_LENGTHS)
        if not OTP_TTLS[0] <= ttl <= OTP_TTLS[1]:
            raise OtpError("ttl", "from %d to %d seconds" % OTP_TTLS)
        if self.settings.allowed_countries and country not in self.settings.allowed_countries:
            raise OtpError("to", f"sending codes to {country or 'this country'} is not allowed by this server")
        check_template(template, self.settings.app, length, ttl)

    def _send_limits(self, to: str, country: str | None, token_id: str, app: str) -> list[Limit]:
        """The resend gap is per app and number (it is the app's "resend" button; two apps a person uses at once
        each get their code); the per-number count is across apps (what one phone can be flooded with)."""
        s = self.settings
        return [Limit(f"otp-gap:{app}:{to}", 1, s.resend_gap),
                Limit(f"otp-send:{to}", s.sends_per_number, s.sends_window),
                Limit(f"otp-token:{token_id}", s.sends_per_token, s.sends_per_token_window),
                Limit(f"otp-country:{country}", s.daily_per_country, 86400.0)]

    def _count_check(self, app: str, now: float) -> None:
        """verifies_per_app checks a minute per app, or RateLimited before anything is looked up."""
        window = self._checks.setdefault(app, deque())
        while window and window[0] <= now - VERIFY_APP_WINDOW:
            window.popleft()
        if len(window) >= self.settings.verifies_per_app:
            raise RateLimited(f"otp-verify-app:{app}", window[0] + VERIFY_APP_WINDOW - now)
        window.append(now)

    async def lookup(self, verification_id: str | None = None, *, to: str | None = None,
                     app: str) -> Verification | None:
        """The app's live code by id, or the number's latest (pending or out of checks, not expired), or None: an
        approved code is gone at once, as Twilio's is. Never another app's. The record holds the code's keyed hash
        only; what a caller shows of it is its own choice."""
        return await self.store.lookup(app, self._clock(), verification_id=verification_id, destination=to)

    async def cancel(self, verification_id: str, app: str) -> Verification | None:
        """End the app's live code before it is used or expires (Twilio's Status=canceled): checks of it find
        nothing from now on, and its SMS is not sent if it is still queued. None if there was no such live code."""
        return await self.store.cancel(verification_id, app, self._clock())

    async def unlock(self, to: str, app: str | None = None) -> int:
        """Lift the wrong-code lock on a number (an admin's `modemd otp unlock`); app None: every app's lock."""
        return await self.store.unlock(to, app)

    async def prune(self) -> None:
        """Forget rate-limit hits and verifications older than every window that could still count them."""
        s = self.settings
        keep = max(86400.0, s.sends_window, s.resend_gap, s.sends_per_token_window, s.verifies_window) + 3600.0
        await self.store.prune(self._clock(), keep)

    async def verify(self, code: str, *, to: str | None = None, verification_id: str | None = None,
                     app: str | None = None) -> VerifyOutcome:
        """Same work whether a code is pending or not: one lookup, one HMAC, one constant-time compare. The rate-limit
        hit and the check are one transaction (one commit to wait for, not two). `app`: whose codes to look at
        (None: every app's, for admin). The verify limit counts per app and number, and only against a code that
        exists: another app's junk cannot keep this app's user out."""
        s = self.settings
        self._count_check(app or "admin", self._clock())

        def limits(v: Verification) -> list[Limit]:
            return [Limit(f"otp-verify:{v.app}:{v.destination}", s.verifies_per_number, s.verifies_window)]
        dummy = "otp_" + "0" * 26

        def check(v: Verification | None) -> bool:
            expected = v.code_hmac if v else self._mac(dummy, "x")
            return hmac.compare_digest(expected, self._mac(v.id if v else dummy, code))

        return await self.store.verify(to, verification_id, self._clock(), check, s.lock_after_failures, limits,
                                       app)


# OtpSettings, OtpError, the template helpers and DEFAULT_TEMPLATE live in domain/policy.py; re-exported for callers.
__all__ = ["OtpService", "OtpSettings", "OtpError", "RateLimited", "IssuedOtp", "load_secret", "VerifyOutcome",
           "DEFAULT_TEMPLATE", "check_template", "render", "region_of", "new_code"]
