"""The lines `modemd status` prints under a modem for its sending health (docs/health.md): today's counters, the
SIM's budgets, and why it claims nothing now (at a budget, quarantined) or how its last send ended. A modem of a
host on an older modemd has no such fields: nothing is printed for it."""

from __future__ import annotations

INDENT = "  " + " " * 10 + " "


def health_lines(modem: dict) -> list[str]:
    lines = []
    counts = modem.get("counts")
    if counts:
        lines.append(f"{INDENT}today: {counts['sent_today']} sent, {counts['failed_today']} failed, "
                     f"{counts['possible_duplicate']} possible duplicate(s), {counts['unknown']} unknown"
                     + _budgets(modem.get("health") or {}))
    queue = modem.get("queue")
    if queue and queue["depth"]:
        lines.append(f"{INDENT}queue: {queue['depth']} it may take, the oldest waiting {_age(queue['oldest_age_s'])}")
    health = modem.get("health") or {}
    if health.get("sending") and health["sending"] != "ok":
        lines.append(f"{INDENT}not sending: {health['sending']}")
    elif health.get("last_result"):
        last = health["last_result"]
        error = f" ({last['error']})" if last.get("error") else ""
        lines.append(f"{INDENT}last send: {last['outcome']}{error} at {last['at']}")
    return lines


def _budgets(health: dict) -> str:
    """"; budget hour 3/10, day 120/500" for the periods with a cap."""
    used = [f"{period} {u['used']}/{u['limit']}" for period, u in (health.get("budget") or {}).items() if u]
    return f"; budget {', '.join(used)}" if used else ""


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"
