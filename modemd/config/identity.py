"""The keys of a [[modems]] table that name a modem by what it is rather than where it is plugged in: `imei` (the
device), `iccid` (the SIM card), `imsi` (the subscription). An AT modem gives `port`, one or more of these, or both
(then the modem on that port must be the one named, and discovery looks elsewhere when it is not there).

This shape is a contract: checks outside this repository write it. Values are compared as the modem prints them,
digits only: an ICCID's trailing F filler (some SIMs print 19 digits and an F) is dropped on both sides.
"""

from __future__ import annotations

import re

from .reader import Table, show

IDENTITY_KEYS = ("imei", "iccid", "imsi")
# TS 23.003 6.2: an IMEI is 15 digits (14 and a Luhn check digit); IMEISV is 16 and names the same device.
_IMEI = re.compile(r"[0-9]{15,16}\Z")
# ITU-T E.118: an ICCID is up to 19 digits and a check digit; 18 to 22 covers what modems print.
_ICCID = re.compile(r"[0-9]{18,22}\Z")
# TS 23.003 2.2: an IMSI is MCC (3) + MNC (2-3) + MSIN, at most 15 digits.
_IMSI = re.compile(r"[0-9]{6,15}\Z")
_SHAPES = {"imei": (_IMEI, "15 digits (AT+CGSN)"), "iccid": (_ICCID, "18 to 22 digits (AT+CCID)"),
           "imsi": (_IMSI, "6 to 15 digits (AT+CIMI)")}


def normalize_identity(kind: str, value: str) -> str:
    """What a modem printed or a table says -> the form both are compared in: quotes, spaces and the ICCID's F
    filler gone."""
    value = value.strip().strip('"').strip().upper()
    if kind == "iccid":
        value = value.rstrip("F")
    return value


def read_identity(t: Table) -> dict[str, str]:
    """The identity keys a table gives, checked and normalized; ConfigErrors name the key."""
    found = {}
    for key in IDENTITY_KEYS:
        value = t.string(key, None)
        if value is None:
            continue
        pattern, shape = _SHAPES[key]
        value = normalize_identity(key, value)
        if not pattern.match(value):
            t.fail(key, f"must be {shape}, got {show(value)}")
        found[key] = value
    return found


def same_modem(identity: dict[str, str], seen: dict[str, str]) -> bool:
    """Does a modem that printed `seen` ({"imei": ..., "iccid": ..., "imsi": ...}) match every key `identity`
    gives? A key the modem did not print (no SIM: no ICCID) does not match."""
    return all(normalize_identity(k, seen.get(k) or "") == v for k, v in identity.items())
