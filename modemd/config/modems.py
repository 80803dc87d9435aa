"""The tables of the sending side: [[modems]] (ports, speeds, PINs, pacing), [queue] (how a message is retried
through them) and [retention] (how long what was sent keeps its numbers, and is kept at all).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .identity import IDENTITY_KEYS, read_identity
from .model import BAUD_RATES, ModemConfig, QueueConfig, RetentionConfig
from .phones import PHONE_ONLY_KEYS, read_phone
from .reader import ConfigError, Table, num, read_secret_file, show
from .values import NAME
from ..domain.policy import RetryPolicy, SimPolicy

_PIN = re.compile(r"[0-9]{4,8}\Z")                 # TS 31.102: a PIN is 4 to 8 decimal digits
_E164 = re.compile(r"\+[1-9][0-9]{5,14}\Z")        # ITU-T E.164: at most 15 digits


def read_modems(top: Table) -> tuple[ModemConfig, ...]:
    modems: list[ModemConfig] = []
    for i, t in enumerate(top.tables("modems")):
        modem = _modem(t, f"modem{i}")
        for j, other in enumerate(modems):
            if other.name == modem.name:
                t.fail("name", f"{json.dumps(modem.name)} is already the name of modems[{j}]; names must be unique")
            if modem.port and other.port == modem.port:
                t.fail("port", f"{json.dumps(modem.port)} is already the port of modems[{j}]")
            if modem.url and other.url == modem.url:
                t.fail("url", f"{json.dumps(modem.url)} is already the url of modems[{j}]")
            if modem.adb_serial and other.adb_serial == modem.adb_serial:
                t.fail("adb_serial", f"{json.dumps(modem.adb_serial)} is already the adb_serial of modems[{j}]")
            for key, value in modem.identity.items():
                if other.identity.get(key) == value:
                    t.fail(key, f"{json.dumps(value)} is already the {key} of modems[{j}]")
        modems.append(modem)
    _check_sim_numbers(top, modems)
    return tuple(modems)


def sim_numbers(modems: tuple[ModemConfig, ...] | list[ModemConfig]) -> dict[int, str]:
    """android-sms-gateway's simNumber -> the modem's name: a table's sim_number, else its place (from 1)."""
    return {m.sim_number or i: m.name for i, m in enumerate(modems, 1)}


def _check_sim_numbers(top: Table, modems: list[ModemConfig]) -> None:
    seen: dict[int, int] = {}
    for i, m in enumerate(modems):
        number = m.sim_number or i + 1
        if number in seen:
            raise ConfigError(top.key(f"modems[{i}].sim_number"), f"{number} is already the sim_number of "
                              f"modems[{seen[number]}] (set or by its place); give each modem its own")
        seen[number] = i


def _modem(t: Table, default_name: str) -> ModemConfig:
    name = t.string("name", default_name)
    if not NAME.match(name):
        t.fail("name", f"must be lower-case letters, digits, '_' or '-', got {show(name)}")
    if "port" in t.data and "url" in t.data:
        t.fail("url", "cannot be combined with port: a table is an AT modem (port) or a phone (url), not both")
    common = _common(t, name)
    if "url" in t.data:
        return _phone(t, common)
    for key in PHONE_ONLY_KEYS:
        if key in t.data:
            t.fail(key, "is for phones (url = ...); an AT modem (port = ...) has no such setting")
    return _at_modem(t, common)


def _common(t: Table, name: str) -> dict:
    """The keys every modem has, phone or AT: pacing, routing, the SIM's budget and quarantine."""
    d = ModemConfig(name="", port="")
    groups = t.strings("groups")
    for i, group in enumerate(groups):
        if not NAME.match(group):
            raise ConfigError(t.key(f"groups[{i}]"), f"must be lower-case letters, digits, '_' or '-', got "
                                                    f"{show(group)}")
    return dict(name=name, per_minute=t.number("per_minute", d.per_minute, 0),
                registration_timeout=t.number("registration_timeout", d.registration_timeout, 1, 3600),
                groups=tuple(dict.fromkeys(groups)),
                sim_number=t.get("sim_number", None, lambda v: isinstance(v, int) and not isinstance(v, bool)
                                 and 1 <= v <= 255, "an integer from 1 to 255"), sim=_sim_policy(t))


def _sim_policy(t: Table) -> SimPolicy:
    """The SIM's budgets and quarantine (domain.policy.SimPolicy, written flat in the table)."""
    d = SimPolicy()
    budgets = {key: t.get(key, None, lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
                          "an integer >= 1 (SMS parts), or leave it out for no cap")
               for key in ("sms_per_hour", "sms_per_day", "sms_per_month")}
    quarantine_time = t.number("quarantine_time", d.quarantine_time, 1)
    quarantine_max = t.number("quarantine_max", d.quarantine_max, 1)
    if quarantine_max < quarantine_time:
        t.fail("quarantine_max", f"must be >= quarantine_time ({num(quarantine_time)}), got {num(quarantine_max)}")
    return SimPolicy(**budgets, quarantine_after=t.integer("quarantine_after", d.quarantine_after, 0, 1000),
                     quarantine_time=quarantine_time, quarantine_max=quarantine_max)


def _phone(t: Table, common: dict) -> ModemConfig:
    for key in IDENTITY_KEYS:
        if key in t.data:
            t.fail(key, "is for AT modems: a phone (url = ...) is found by its url (and adb_serial)")
    phone = read_phone(t)
    return ModemConfig(port="", url=phone.url, username=phone.username, password=phone.password,
                       password_file=phone.password_file, adb_serial=phone.adb_serial, **common)


def _at_modem(t: Table, common: dict) -> ModemConfig:
    d = ModemConfig(name="", port="")
    identity = read_identity(t)
    port = t.string("port", None) if identity else \
        t.required("port", "the modem's serial port, e.g. /dev/serial/by-id/usb-Quectel_EC25-if02-port0; or imei, "
                           "iccid or imsi for modemd to find it among [discovery] paths; or url for a phone running "
                           "SMS Gateway for Android")
    if port is not None and not port.startswith("/"):
        t.fail("port", f"must be an absolute device path, got {show(port)}")
    pin, pin_file = _pin(t)
    smsc = t.string("smsc", None)
    if smsc is not None and not _E164.match(smsc):
        t.fail("smsc", f"must be an international number like \"+491770610000\", got {show(smsc)}")
    return ModemConfig(port=port or "", baud=t.choice("baud", d.baud, BAUD_RATES),
                       rtscts=t.boolean("rtscts", d.rtscts), pin=pin, pin_file=pin_file, smsc=smsc, **identity,
                       **common)


def _pin(t: Table) -> tuple[str | None, Path | None]:
    if "pin" in t.data and "pin_file" in t.data:
        t.fail("pin_file", "cannot be combined with pin; keep one of them")
    if "pin" in t.data:
        pin = t.get("pin", None, lambda v: isinstance(v, str), "a quoted string of 4 to 8 digits", secret=True)
        t.inline_secret("pin")
        check_pin(t.key("pin"), pin)
        return pin, None
    pin_file = t.path_value("pin_file")
    if pin_file is None:
        return None, None
    return read_pin_file(t.key("pin_file"), pin_file), pin_file


def check_pin(key: str, pin: str, source: str = "the PIN") -> None:
    if not _PIN.match(pin):
        raise ConfigError(key, f"{source} must be 4 to 8 digits")


def read_pin_file(key: str, path: Path) -> str:
    """A PIN file (0600): its digits, checked, or ConfigError naming `key` (never the PIN)."""
    try:
        pin = read_secret_file(key, path).decode("ascii")
    except UnicodeDecodeError:
        pin = ""
    check_pin(key, pin, source=f"the PIN in {path}")
    return pin


def read_queue(t: Table) -> QueueConfig:
    d = RetryPolicy()
    retry = RetryPolicy(base=t.number("backoff_base", d.base, 0, above=True),
                        factor=t.number("backoff_factor", d.factor, 1),
                        cap=t.number("backoff_cap", d.cap, 0, above=True),
                        max_attempts=t.integer("max_attempts", d.max_attempts, 1, 100),
                        max_ambiguous=t.integer("max_ambiguous", d.max_ambiguous, 0, 10),
                        device_pause=t.number("device_pause", d.device_pause, 0))
    if retry.cap < retry.base:
        t.fail("backoff_cap", f"must be >= backoff_base ({num(retry.base)}), got {num(retry.cap)}")
    return QueueConfig(retry=retry, keep_sent_text=t.boolean("keep_sent_text", QueueConfig.keep_sent_text),
                       retention=t.number("retention", QueueConfig.retention, 0))


def read_retention(t: Table) -> RetentionConfig:
    d = RetentionConfig()
    numbers = t.number("numbers", d.numbers, 3600)
    records = t.number("records", d.records, 3600)
    if records < numbers:
        t.fail("records", f"must be at least numbers ({num(numbers)}): a record is masked before it is deleted")
    return RetentionConfig(numbers=numbers, records=records)
