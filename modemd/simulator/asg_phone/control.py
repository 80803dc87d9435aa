"""The simulated phone's control requests, on the AT simulator's socket and protocol (simulator/control.py: one
JSON object per line in, {"ok": true, ...} or {"ok": false, "error"} out; ControlClient works unchanged).

  fault         {"name": "send_errors", "value": ["radio_off"]} or {"faults": {"no_service": true, ...}}
  state         -> running, deviceId, faults, messages (as GET /messages/{id}), webhooks, webhooks_sent/_dropped
  inject_sms    {"sender", "text", "sim_number"?} -> {"messageId", "webhooks": how many deliveries were queued}
  kill          {"seconds"?}: the app dies (server gone); back after `seconds` if given
  restart       the app starts again: server back, queue resumes, app:started sent
  system_ping   send a system:ping now -> {"webhooks": n}
  handset       -> {"messages": [...]} (the same records as the AT simulator's)
  ping
"""
from __future__ import annotations

import json
from dataclasses import asdict


async def _fault(phone, req):
    changes = req.get("faults") or {req["name"]: req.get("value")}
    for name, value in changes.items():
        phone.faults.set(name, value)
    return {"faults": phone.faults.as_dict()}


async def _state(phone, req):
    return phone.state()


async def _inject_sms(phone, req):
    return phone.receive_sms(req["sender"], req["text"], int(req.get("sim_number", 1)))


async def _kill(phone, req):
    seconds = req.get("seconds")
    await phone.kill(None if seconds is None else float(seconds))
    return {"running": phone.running.is_set()}


async def _restart(phone, req):
    await phone.restart()
    return {"running": phone.running.is_set()}


async def _system_ping(phone, req):
    return {"webhooks": phone.ping()}


async def _handset(phone, req):
    return {"messages": [asdict(m) for m in phone.handset.messages()]}


async def _ping(phone, req):
    return {"pong": True}


OPS = {"fault": _fault, "state": _state, "inject_sms": _inject_sms, "kill": _kill, "restart": _restart,
       "system_ping": _system_ping, "handset": _handset, "ping": _ping}


async def handle_request(phone, line: bytes) -> dict:
    try:
        req = json.loads(line)
        op = OPS.get(req.get("op")) if isinstance(req, dict) else None
        if op is None:
            return {"ok": False, "error": f"unknown op; known: {sorted(OPS)}"}
        return {"ok": True, **(await op(phone, req))}
    except (ValueError, KeyError, TypeError) as exc:       # bad JSON, missing field, unknown fault or value
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
