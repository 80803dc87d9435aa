"""The keys of a [[modems]] table that describe a phone running SMS Gateway for Android instead of an AT modem:
`url` (its local server), `username`, `password` or `password_file`, and optionally `adb_serial`.

This shape is a contract: checks outside this repository write it. A table has exactly one of `port` (an AT modem)
and `url` (a phone); the AT-only keys (baud, rtscts, pin, pin_file, smsc) make no sense on a phone and are refused
by name rather than ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .reader import Table, inline_or_file_secret, show

# Keys only an AT modem has: the phone's own Android stack owns the radio, the SIM and the service centre.
AT_ONLY_KEYS = ("baud", "rtscts", "pin", "pin_file", "smsc")
PHONE_ONLY_KEYS = ("url", "username", "password", "password_file", "adb_serial")
# adb's serial numbers: USB serials ("R58M123ABC"), emulator names ("emulator-5554") or host:port for adb over TCP.
_ADB_SERIAL = re.compile(r"[A-Za-z0-9._:-]{1,64}\Z")


@dataclass(frozen=True)
class PhoneKeys:
    url: str
    username: str
    password: str
    password_file: Path | None
    adb_serial: str | None


def read_phone(t: Table) -> PhoneKeys:
    """A phone's keys, checked; ConfigErrors name the key (never the password)."""
    for key in AT_ONLY_KEYS:
        if key in t.data:
            t.fail(key, "is for AT modems (port = ...); a phone (url = ...) has no such setting")
    url = _url(t)
    username = t.required("username", "the user of the app's local server (Settings -> Local server)")
    secret = inline_or_file_secret(t, "password", "password_file")
    if secret is None:
        t.fail("password", "required: password, or password_file naming a 0600 file that holds it")
    password, key, path = secret
    try:
        text = password.decode("utf-8")
    except UnicodeDecodeError:
        t.fail(key.rsplit(".", 1)[-1], "the password must be UTF-8 text")
    if not text:
        t.fail(key.rsplit(".", 1)[-1], "the password is empty")
    adb_serial = t.string("adb_serial", None)
    if adb_serial is not None and not _ADB_SERIAL.match(adb_serial):
        t.fail("adb_serial", f"must be a serial as `adb devices` lists it, got {show(adb_serial)}")
    return PhoneKeys(url=url, username=username, password=text, password_file=path, adb_serial=adb_serial)


def _url(t: Table) -> str:
    url = t.required("url", 'the phone\'s local server, e.g. "http://127.0.0.1:8080"')
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
        t.fail("url", f"has a port that is not a number: {show(url)}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        t.fail("url", f'must be http://HOST:PORT or https://HOST:PORT, got {show(url)}')
    if parts.query or parts.fragment or parts.username or parts.password:
        t.fail("url", "must not hold a query, a fragment or credentials (use username and password)")
    if port is None and parts.scheme == "http":
        t.fail("url", f"must name the port (the app's local server listens on 8080 by default), got {show(url)}")
    return url.rstrip("/")
