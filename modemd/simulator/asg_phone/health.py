"""GET /health as HealthService.healthCheck() builds it: messages:*, connection:*, battery:* checks; the overall
status is fail if one fails, warn if one warns, else pass (answered 500 on fail, 200 otherwise)."""
from __future__ import annotations

import time

HOUR = 3600.0
VERSION, RELEASE_ID = "1.0.0-simulated", 1
CELLULAR_LTE = 4            # ConnectionService's CellularNetworkType ordinal for 4G


def _check(status: str, value: int, unit: str, description: str) -> dict:
    return {"status": status, "observedValue": value, "observedUnit": unit, "description": description}


def health(messages, *, no_service: bool, battery: int = 85) -> dict:
    """`messages`: the PhoneMessage rows; failures counted over the last hour like the app's DAO."""
    since = time.time() - HOUR
    failed = sum(1 for m in messages for r in m.recipients if r.state == "Failed" and m.created_at >= since)
    processed = sum(1 for m in messages for r in m.recipients if r.state in ("Sent", "Delivered")
                    and m.created_at >= since)
    failed_status = "fail" if failed and not processed else "warn" if failed else "pass"
    checks = {
        "messages:failed": _check(failed_status, failed, "messages", "Failed messages for last hour"),
        "connection:status": _check("pass", 1, "boolean", "Internet connection status"),
        "connection:transport": _check("pass", 1, "flags", "Network transport type"),
        "connection:cellular": _check("pass", 0 if no_service else CELLULAR_LTE, "index", "Cellular network type"),
        "battery:level": _check("pass" if battery > 10 else "warn", battery, "percent", "Battery level in percent"),
        "battery:charging": _check("pass", 1, "boolean", "Is the phone charging?"),
    }
    statuses = {c["status"] for c in checks.values()}
    overall = "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"
    return {"status": overall, "version": VERSION, "releaseId": RELEASE_ID, "checks": checks}
