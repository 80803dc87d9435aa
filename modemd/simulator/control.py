"""Control socket: a unix stream socket taking one JSON object per line and answering one JSON line each.

Requests: {"op": "<name>", ...}; replies: {"ok": true, ...} or {"ok": false, "error": "..."}.
  fault                 {"name": "network_delay", "value": 0.5} or {"faults": {"no_answer": true, ...}}
  state                 -> port, pts, faults, SIM state, registration, settings, stored indices
  inject_sms            {"sender", "text", "store"?, "order"?, "duplicate"?} -> {"indices": [...]}
  inject_status_report  {"message_reference", "recipient", "status"?} -> {"index": n | null}
  vanish                {"seconds"?: 2.0}; reappear -> {"pts": "/dev/pts/N"}
  move                  {"link": "/tmp/x/ttyUSB7", "seconds"?: 0.5}: unplug, back at the new path -> {"port", "pts"}
  handset               -> {"messages": [...]}
  urc                   {"line": "^RSSI: 12"}
  ping
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
from dataclasses import asdict

MAX_REQUEST = 1 << 20


class ControlError(RuntimeError):
    """The simulator refused a request (its "error" text is the message)."""


async def _fault(modem, req):
    changes = req.get("faults") or {req["name"]: req.get("value")}
    for name, value in changes.items():
        modem.set_fault(name, value)
    return {"faults": modem.faults.as_dict()}


async def _state(modem, req):
    return modem.state()


async def _inject_sms(modem, req):
    indices = modem.inject_sms(req["sender"], req["text"], store=req.get("store", True),
                               order=req.get("order"), duplicate=req.get("duplicate"))
    return {"indices": indices}


async def _inject_status_report(modem, req):
    index = modem.inject_status_report(int(req["message_reference"]), req["recipient"], int(req.get("status", 0)))
    return {"index": index}


async def _vanish(modem, req):
    await modem.vanish(req.get("seconds"))
    return {"present": modem.present}


async def _reappear(modem, req):
    await modem.reappear()
    return {"pts": modem.pts, "port": modem.port}


async def _move(modem, req):
    link = req["link"]
    if not isinstance(link, str) or not link.startswith("/") or not os.path.isdir(os.path.dirname(link)):
        raise ValueError(f"link must be an absolute path in an existing directory, got {link!r}")
    await modem.move(link, req.get("seconds"))
    return {"port": modem.port, "pts": modem.pts}


async def _handset(modem, req):
    return {"messages": [asdict(m) for m in modem.handset.messages()]}


async def _urc(modem, req):
    modem.send_urc(req["line"])
    return {}


async def _ping(modem, req):
    return {"pong": True}


OPS = {"fault": _fault, "state": _state, "inject_sms": _inject_sms, "inject_status_report": _inject_status_report,
       "vanish": _vanish, "reappear": _reappear, "move": _move, "handset": _handset, "urc": _urc, "ping": _ping}


async def handle_request(modem, line: bytes) -> dict:
    try:
        req = json.loads(line)
        op = OPS.get(req.get("op")) if isinstance(req, dict) else None
        if op is None:
            return {"ok": False, "error": f"unknown op; known: {sorted(OPS)}"}
        return {"ok": True, **(await op(modem, req))}
    except (ValueError, KeyError, TypeError) as exc:       # bad JSON, missing field, wrong type
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


class ControlServer:
    """`handle(device, line) -> reply`: the AT modem's requests by default; the simulated phone passes its own."""

    def __init__(self, modem, path: str, handle=None):
        self.modem, self.path = modem, path
        self._handle = handle or handle_request
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)                            # a stale socket of a previous run
        self._server = await asyncio.start_unix_server(self._client, self.path, limit=MAX_REQUEST)
        os.chmod(self.path, 0o600)                          # it can unplug the modem: owner only

    async def stop(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()
        if os.path.exists(self.path):
            os.unlink(self.path)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                if line.strip():
                    reply = await self._handle(self.modem, line)
                    writer.write(json.dumps(reply, ensure_ascii=False).encode() + b"\n")
                    await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()


class ControlClient:
    """Blocking client for tests and scripts: `ControlClient(path).request("fault", name=..., value=...)`."""

    def __init__(self, path: str, timeout: float = 10.0):
        self.path, self.timeout = path, timeout

    def request(self, op: str, **fields) -> dict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            sock.connect(self.path)
            sock.sendall(json.dumps({"op": op, **fields}).encode() + b"\n")
            reply = json.loads(_read_line(sock))
        if not reply.pop("ok", False):
            raise ControlError(reply.get("error", "unknown error"))
        return reply

    def fault(self, name: str, value) -> dict:
        return self.request("fault", name=name, value=value)

    def inject_sms(self, sender: str, text: str, **options) -> list[int]:
        return self.request("inject_sms", sender=sender, text=text, **options)["indices"]

    def inject_status_report(self, message_reference: int, recipient: str, status: int = 0):
        return self.request("inject_status_report", message_reference=message_reference, recipient=recipient,
                            status=status)["index"]

    def handset(self) -> list[dict]:
        return self.request("handset")["messages"]

    def state(self) -> dict:
        return self.request("state")


def _read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


async def arequest(path: str, op: str, **fields) -> dict:
    """The same request from asyncio code (one connection per request)."""
    reader, writer = await asyncio.open_unix_connection(path, limit=MAX_REQUEST)
    try:
        writer.write(json.dumps({"op": op, **fields}).encode() + b"\n")
        await writer.drain()
        reply = json.loads(await reader.readline())
    finally:
        writer.close()
    if not reply.pop("ok", False):
        raise ControlError(reply.get("error", "unknown error"))
    return reply
