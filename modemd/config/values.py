"""Checks of single values that more than one table needs: names (of modems and apps), listen addresses, loopback
hosts (for [server] listen and webhook URLs) and region codes (default_region and the allowed_countries lists).
"""

from __future__ import annotations

import ipaddress
import json
import re

import phonenumbers

from .reader import Table, show

NAME = re.compile(r"[a-z0-9_-]+\Z")                # a modem's or an app's name
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\Z")
_REGION_MISTAKES = {"UK": "GB", "EL": "GR"}        # common codes that are not ISO 3166-1


def parse_listen(text: str) -> tuple[str, int]:
    """"127.0.0.1:8765", "[::1]:8765", "localhost:8765" -> (host, port). Raises ValueError(reason)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("must be HOST:PORT with a port from 1 to 65535")
    bracketed = host.startswith("[") and host.endswith("]")
    host = host[1:-1] if bracketed else host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not _HOST.match(host):
            raise ValueError("must be HOST:PORT with an IP address or a host name") from None
    else:
        if address.version == 6 and not bracketed:
            raise ValueError("must put an IPv6 address in brackets: [::1]:8765")
    return host, int(port)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def region_code(t: Table, name: str, value: str) -> str:
    """An ISO 3166-1 region phonenumbers knows; lower case is accepted (it is unambiguous)."""
    code = value.upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        hint = f"; did you mean {json.dumps(_REGION_MISTAKES[code])}?" if code in _REGION_MISTAKES else ""
        t.fail(name, f"must be an ISO 3166 region code such as \"DE\" or \"GB\", got {show(value)}{hint}")
    return code
