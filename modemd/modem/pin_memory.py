"""The record of SIM PINs a SIM rejected, kept on disk so that no restart of modemd tries one again.

A SIM allows three wrong PINs, then asks for its PUK (TS 31.102: PIN1 retry counter 3). A wrong PIN remembered
only in memory is entered again after every crash, watchdog restart or reboot, and three of those lock the SIM.
So a rejection is written here, under the SIM's ICCID (EF_ICCID is readable while the SIM waits for its PIN,
TS 31.102 4.1.1), and stays until an admin removes it (`modemd pin reset`) or configures a different PIN.

`<state_dir>/rejected-pins.json`, mode 0600, replaced atomically. It never holds a PIN: each rejection is a salted
scrypt hash, enough to answer "is the configured PIN the one that was rejected?". A PIN has only 10^4 to 10^8
values, so the hash slows a reader of the file down rather than stopping one; the file is as private as the API
token and OTP secret beside it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..domain.redact import mask_identity

FILE_NAME = "rejected-pins.json"
VERSION = 1
# scrypt at n=2^14, r=8 (the parameters of RFC 7914's interactive example): ~40 ms and 16 MiB per PIN checked.
SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1, "dklen": 32}
SALT_BYTES = 16
# Modems of one daemon share the file; reading, changing and replacing it is one step for this process.
_WRITE_LOCK = threading.Lock()


class PinMemoryUnreadable(Exception):
    """The record exists but cannot be read or parsed.

    Callers must then enter no PIN at all. Reading it as "nothing rejected" would be the easy way, but the record
    may be unreadable because of the very restarts it exists for (a crash mid-write on a filesystem that lost the
    rename, a disk error): each restart would then spend one more try. A SIM waiting for its PIN costs an admin
    one command (`modemd pin reset`); a SIM locked to its PUK costs a call to the operator.
    """


@dataclass(frozen=True)
class Rejection:
    sim: str              # the record's key: sim_key()
    modem: str            # the modem's name when the PIN was rejected; what `modemd pin reset MODEM` matches
    at: str               # ISO 8601 UTC

    @property
    def sim_label(self) -> str:
        kind, _, value = self.sim.partition(":")
        return f"SIM {mask_identity('iccid', value)}" if kind == "iccid" else f"the SIM in {value} (ICCID unreadable)"

    def refusal(self) -> str:
        when = self.at.replace("T", " ").removesuffix("Z") + " UTC"
        return (f"the configured PIN was rejected for {self.sim_label} on {when}; not tried again: put the right "
                f"PIN in the config or run `modemd pin reset {self.modem}`")


def sim_key(iccid: str, modem: str) -> str:
    """The SIM's ICCID; the modem's name only when the ICCID cannot be read (a SIM swap then goes unnoticed)."""
    iccid = iccid.strip().strip('"').upper()
    return f"iccid:{iccid}" if iccid else f"modem:{modem}"


class PinMemory:
    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def in_dir(cls, state_dir: Path) -> "PinMemory":
        return cls(Path(state_dir) / FILE_NAME)

    def rejection(self, sim: str, pin: str) -> Rejection | None:
        """The rejection of this very PIN for this SIM, if any. Raises PinMemoryUnreadable."""
        entry = self._load().get(sim)
        for rejected in entry["rejected"] if entry else ():
            if hmac.compare_digest(_hash(pin, bytes.fromhex(rejected["salt"])), bytes.fromhex(rejected["hash"])):
                return Rejection(sim, entry["modem"], rejected["at"])
        return None

    def record(self, sim: str, modem: str, pin: str, now: datetime | None = None) -> Rejection:
        """Every rejected PIN of a SIM is kept (PIN A, then B, then A again would be its third wrong try)."""
        at = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
        salt = os.urandom(SALT_BYTES)
        with _WRITE_LOCK:
            sims = self._load()
            entry = sims.setdefault(sim, {"modem": modem, "rejected": []})
            entry["modem"] = modem
            entry["rejected"].append({"at": at, "salt": salt.hex(), "hash": _hash(pin, salt).hex()})
            self._save(sims)
        return Rejection(sim, modem, at)

    def forget(self, sim: str) -> bool:
        """After the SIM accepted a PIN: its earlier rejections say nothing any more."""
        with _WRITE_LOCK:
            sims = self._load()
            if sims.pop(sim, None) is None:
                return False
            self._save(sims)
        return True

    def reset(self, modem: str | None = None) -> list[Rejection]:
        """Remove the records of one modem's SIMs (all with None); returns the latest rejection of each."""
        with _WRITE_LOCK:
            sims = self._load()
            removed = [Rejection(sim, entry["modem"], entry["rejected"][-1]["at"]) for sim, entry in sims.items()
                       if modem is None or entry["modem"] == modem]
            for rejection in removed:
                del sims[rejection.sim]
            if removed:
                self._save(sims)
        return removed

    def discard(self) -> bool:
        """Delete an unreadable record (`modemd pin reset`): the admin has looked at the SIMs."""
        with _WRITE_LOCK:
            try:
                self.path.unlink()
            except FileNotFoundError:
                return False
        return True

    def _unreadable(self, reason: object) -> PinMemoryUnreadable:
        return PinMemoryUnreadable(
            f"cannot read the record of rejected SIM PINs {self.path} ({reason}); no PIN is entered until it can be: "
            f"fix its permissions, or run `modemd pin reset --state-dir {self.path.parent}` to start it afresh")

    # ---- the file ----------------------------------------------------------------------------------------------
    def _load(self) -> dict:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise self._unreadable(exc) from exc
        try:
            return _parse(json.loads(text))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise self._unreadable(f"not a valid record: {exc!r}") from exc

    def _save(self, sims: dict) -> None:
        """tmp + fsync + rename, then fsync the directory: a crash leaves the old record or the new, never half."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        data = json.dumps({"version": VERSION, "sims": sims}, indent=1, sort_keys=True).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)            # a stale tmp file from a crash may have other bits
            if os.geteuid() == 0:           # `sudo modemd pin reset` in /var/lib/modemd: the service must still
                owner = os.stat(self.path.parent)           # read it (a root-owned 0600 file would stop every PIN)
                os.fchown(fd, owner.st_uid, owner.st_gid)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _hash(pin: str, salt: bytes) -> bytes:
    return hashlib.scrypt(pin.encode("utf-8"), salt=salt, **SCRYPT)


def _parse(data) -> dict:
    """Checked whole: a record that parses only in part must not be mistaken for "nothing rejected"."""
    if data.get("version") != VERSION or not isinstance(data["sims"], dict):
        raise ValueError(f"unknown version or layout: {data.get('version')!r}")
    for sim, entry in data["sims"].items():
        if not isinstance(entry["modem"], str) or not entry["rejected"]:
            raise ValueError(f"bad entry for {sim!r}")
        for rejected in entry["rejected"]:
            bytes.fromhex(rejected["salt"])
            bytes.fromhex(rejected["hash"])
            if not isinstance(rejected["at"], str):
                raise ValueError(f"bad date for {sim!r}")
    return data["sims"]
