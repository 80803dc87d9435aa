"""The simulated SMS Gateway for Android phone for tests: in this process (PhoneThread: its own event loop in a
thread, so the official client's blocking calls work against it) or as `modemd simulate --device asg-phone`
(PhoneProcess); and HookReceiver, a real aiohttp webhook receiver on loopback that records each request's raw
body and headers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
from pathlib import Path

from aiohttp import web

from .processes import MODEMD, free_port, stop_process
from .wait import wait_for

USER, PASSWORD, SIGNING_KEY = "phone-user", "phone-pass-7c1e", "Kx3v9QpZ"


class LoopThread:
    """An asyncio loop in a daemon thread; run(coro) waits for its result from the test's thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class HookReceiver:
    """POSTs to http://127.0.0.1:<port>/<anything>: recorded as {"path", "body" (bytes), "headers", "json"};
    `fail_next` answers that many requests 500 first (a receiver that is briefly broken)."""

    def __init__(self, loop: LoopThread):
        self.loop, self.port = loop, free_port()
        self.requests: list[dict] = []
        self.fail_next = 0
        app = web.Application()
        app.router.add_post("/{path:.*}", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        loop.run(self._start())

    def url(self, path: str = "hook") -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    async def _start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append({"path": request.path, "body": body, "headers": dict(request.headers),
                              "json": json.loads(body)})
        if self.fail_next:
            self.fail_next -= 1
            return web.Response(status=500)
        return web.Response(status=204)

    def events(self, event: str, message_id: str | None = None) -> list[dict]:
        return [r for r in self.requests if r["json"]["event"] == event
                and (message_id is None or r["json"]["payload"].get("messageId") == message_id)]

    def close(self) -> None:
        self.loop.run(self._runner.cleanup())


class PhoneThread:
    """AsgPhone + its HTTP server + its control socket, in this process; `url` for the official client."""

    def __init__(self, directory: Path, *, retry_delay: float = 0.05):
        from modemd.simulator.asg_phone import AsgPhone, PhoneServer
        from modemd.simulator.asg_phone.control import handle_request
        from modemd.simulator.control import ControlClient, ControlServer
        self.loop = LoopThread()
        self.handset_path = Path(directory) / "phone.handset.jsonl"
        self.control_path = str(Path(directory) / "phone.sock")

        async def start():
            self.phone = AsgPhone(handset_path=str(self.handset_path), signing_key=SIGNING_KEY,
                                  retry_delay=retry_delay)
            self.server = PhoneServer(self.phone, "127.0.0.1", 0, USER, PASSWORD)
            self.control_server = ControlServer(self.phone, self.control_path, handle_request)
            await self.phone.start()
            await self.server.start()
            await self.control_server.start()
        self.loop.run(start())
        self.url = f"http://127.0.0.1:{self.server.port}"
        self.control = ControlClient(self.control_path)

    def handset(self) -> list[dict]:
        return self.control.request("handset")["messages"]

    def close(self) -> None:
        async def stop():
            await self.control_server.stop()
            await self.server.stop()
            await self.phone.stop()
        self.loop.run(stop())
        self.loop.close()


class PhoneProcess:
    """`modemd simulate --device asg-phone` as a user starts it, with its control socket."""

    def __init__(self, directory: Path, *, retry_delay: float = 0.05):
        from modemd.simulator import ControlClient
        directory = Path(directory)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.handset_path = directory / "phone.handset.jsonl"
        control_path = str(directory / "phone.sock")
        self.log_path = directory / "phone.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            MODEMD + ["simulate", "--device", "asg-phone", "--listen", f"127.0.0.1:{self.port}",
                      "--username", USER, "--password", PASSWORD, "--signing-key", SIGNING_KEY,
                      "--webhook-retry-delay", str(retry_delay), "--handset", str(self.handset_path),
                      "--control", control_path],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.control = ControlClient(control_path)
        wait_for(lambda: self._exited() or "control socket" in self.log_path.read_text())

    def _exited(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"modemd simulate exited with {self.proc.returncode}: {self.log_path.read_text()}")
        return False

    def handset(self) -> list[dict]:
        if not self.handset_path.exists():
            return []
        return [json.loads(line) for line in self.handset_path.read_text().splitlines() if line]

    def close(self) -> None:
        stop_process(self.proc, grace=5)
        self.log.close()
