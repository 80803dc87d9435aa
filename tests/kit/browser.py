"""Debian's Chromium, headless, driven over the DevTools protocol with aiohttp's websocket client (no selenium or
playwright: both fetch a browser of their own from the internet). `Chromium` starts and stops the process;
`DevTools` sends commands to one page and keeps what the page reported (console calls, exceptions, log entries).
Chrome DevTools Protocol: https://chromedevtools.github.io/devtools-protocol/ (Runtime, Page, Log domains)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import aiohttp

from .processes import free_port
from .wait import until

BROWSERS = ("chromium", "chromium-browser")
START_TIMEOUT = 30.0     # a cold start of Chromium on a loaded CI machine takes several seconds
COMMAND_TIMEOUT = 30.0   # one DevTools command (a screenshot of a large page is the slowest)


def chromium_path() -> str | None:
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


class Chromium:
    """`chromium --headless=new` with a remote-debugging port and a throw-away profile in `directory`. Its helper
    processes share its process group, which stop() ends as a whole."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.log_path = Path(directory) / "chromium.log"
        self.log = open(self.log_path, "w")
        args = [chromium_path(), "--headless=new", f"--remote-debugging-port={self.port}",
                f"--user-data-dir={Path(directory) / 'chromium-profile'}", "--no-first-run",
                "--no-default-browser-check", "--disable-gpu", "--disable-extensions", "--window-size=1280,1600",
                "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")      # Chromium refuses to run its sandbox as root
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)

    async def page_socket(self, session: aiohttp.ClientSession) -> str:
        """The websocket URL of the page Chromium opened, once its DevTools endpoint answers."""
        async def first_page():
            if self.proc.poll() is not None:
                raise AssertionError(f"chromium exited with {self.proc.returncode}: {self.log_path.read_text()}")
            try:
                async with session.get(f"http://127.0.0.1:{self.port}/json/list") as resp:
                    targets = await resp.json()
            except aiohttp.ClientError:
                return None
            return next((t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"), None)
        return await until(first_page, timeout=START_TIMEOUT, interval=0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


class DevTools:
    """One page's DevTools session: `await call(method, **params)` returns the result (or raises the error); events
    are kept in `events` in arrival order, and an event with a handler (`on(method, handler)`) is handed to it too,
    in a task of its own (a handler may call commands; the reader must go on reading their answers)."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse):
        self.socket = socket
        self.events: list[dict] = []
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self._handlers: dict[str, object] = {}
        self._tasks: set[asyncio.Task] = set()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for frame in self.socket:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            message = json.loads(frame.data)
            future = self._waiting.pop(message.get("id"), None)
            if future is None:
                self.events.append(message)
                self._dispatch(message)
            elif not future.done():
                future.set_result(message)

    def on(self, method: str, handler) -> None:
        """`await handler(params)` for each event `method` from now on."""
        self._handlers[method] = handler

    def _dispatch(self, message: dict) -> None:
        handler = self._handlers.get(message.get("method"))
        if handler is not None:
            task = asyncio.ensure_future(handler(message["params"]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def call(self, method: str, **params) -> dict:
        ident = next(self._ids)
        # The future is registered before the command is written: the answer cannot come before anyone awaits it.
        future = self._waiting[ident] = asyncio.get_running_loop().create_future()
        await self.socket.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        answer = await asyncio.wait_for(future, COMMAND_TIMEOUT)
        if "error" in answer:
            raise AssertionError(f"{method}: {answer['error']}")
        return answer["result"]

    async def evaluate(self, expression: str):
        """The value of a JS expression in the page (awaited if it is a promise); a thrown error fails."""
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[dict]:
        """What the page reported as an error: console.error calls, uncaught exceptions, error log entries (a failed
        request, a CSP violation)."""
        return [e for e in self.events if
                (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
                or e.get("method") == "Runtime.exceptionThrown"
                or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]

    async def close(self) -> None:
        await self.socket.close()
        self._reader.cancel()
        for task in list(self._tasks):
            task.cancel()
