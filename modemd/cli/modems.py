"""`modemd modems`: the serial ports the running daemon's discovery finds, matched or not (GET /v1/admin/ports).

One block per port: path (and realpath when it is a link), maker and model, IMEI, ICCID, IMSI, and what it is to
this daemon: the configured modem it is, "not configured" (then the [[modems]] table to paste), "in use by ...",
"not a modem". Admin only: the identities are shown whole, to be pasted into the config.
"""

from __future__ import annotations

from .client import ApiClient


def add_modems_command(sub, command, finish) -> None:
    """Called by remote.py with its helpers: `command` adds the --url/--token-file/--config/--json options and the
    runner, `finish` prints the answer (or its problem) and picks the exit code."""
    def cmd_modems(args, client: ApiClient) -> int:
        return finish(args, client.call("GET", "/v1/admin/ports"), format_ports)
    command(sub, "modems", "serial ports the daemon finds, which modem is on each, config lines for new ones",
            cmd_modems)


def format_ports(body: dict) -> str:
    ports = body.get("data") or []
    if not ports:
        return "no serial ports match the [discovery] paths"
    return "\n\n".join(format_port(p) for p in ports)


def format_port(port: dict) -> str:
    path = port["path"] + (f" -> {port['realpath']}" if port["realpath"] != port["path"] else "")
    rows = [f"{path}: {verdict(port)}"]
    if port.get("imei") or port.get("model"):
        rows.append(f"  device: {port.get('manufacturer') or '?'} {port.get('model') or '?'}  "
                    f"IMEI {port.get('imei') or '-'}")
        rows.append(f"  SIM:    ICCID {port.get('iccid') or '-'}  IMSI {port.get('imsi') or '-'}")
    if port.get("config"):
        rows.append("  add to the config:")
        rows.extend("    " + line for line in port["config"].splitlines())
    return "\n".join(rows)


def verdict(port: dict) -> str:
    status, detail, modem = port["status"], port.get("detail") or "", port.get("modem")
    if status == "ours":
        return f"modem {modem!r} ({detail})"
    if status == "modem":
        return f"modem {modem!r}, not attached ({detail or 'in use through another port or waiting'})" if modem \
            else "not configured"
    if status == "in use":
        return detail.replace("in use by another process: ", "in use by ")
    return f"{status}{': ' + detail if detail else ''}"
