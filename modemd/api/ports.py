"""GET /v1/admin/ports: what discovery finds on this host's serial ports, for `modemd modems` (admin scope).

Every port the [discovery] paths match, matched or not: its path and realpath, what a probe found (a modem, not a
modem, in use by another process, another port of the same modem, held by one of our modems), the modem's maker,
model, IMEI, ICCID and IMSI, the configured modem it is, and for a modem no [[modems]] table names, the lines to
paste into the config. Identities are shown whole, unlike /v1/modems (masked): this is the admin's tool for writing
the config, behind the admin scope. Asking runs a discovery pass (modem/discovery.py), which probes only ports it has
not probed since they were plugged in.
"""

from __future__ import annotations

import re
from typing import Protocol

from aiohttp import web

from .validation import daemon_of


class PortsView(Protocol):
    async def port_findings(self) -> list[dict]: ...


async def list_ports(request: web.Request) -> web.Response:
    daemon: PortsView = daemon_of(request)      # the daemon (daemon/lifecycle.py) offers port_findings()
    findings = await daemon.port_findings()
    return web.json_response({"data": [{**f, "config": config_lines(f)} for f in findings]})


def config_lines(finding: dict) -> str | None:
    """For a modem no [[modems]] table names: the table to paste, naming it by its SIM (ICCID: what a route or a
    budget is about follows the SIM), else by the device (IMEI). None for anything else."""
    if finding["status"] != "modem" or finding.get("modem"):
        return None
    key, value = ("iccid", finding["iccid"]) if finding["iccid"] else ("imei", finding["imei"])
    if not value:
        return None
    return f'[[modems]]\nname = "{suggested_name(finding)}"\n{key} = "{value}"\n'


def suggested_name(finding: dict) -> str:
    """'ec25-53': the model and the last two digits of the IMEI (ICCID), which tell two alike modems apart."""
    model = re.sub(r"[^a-z0-9]+", "-", (finding.get("model") or "modem").lower()).strip("-") or "modem"
    tail = (finding.get("imei") or finding.get("iccid") or "")[-2:]
    return f"{model}-{tail}" if tail else model


def add_port_routes(app: web.Application) -> None:
    app.router.add_get("/v1/admin/ports", list_ports)
