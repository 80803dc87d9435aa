"""A scripted fake modem on a real pty, for AtChannel tests.

The channel opens the pty slave (or a symlink to it, like /dev/serial/by-id/...); the test drives the master:

    fake = FakeModem(link=tmp_path / "modem")      # or FakeModem() and open fake.slave_name
    await fake.start()
    fake.script["AT+CSQ"] = Reply(["+CSQ: 20,99", "OK"])
    fake.script["AT+CMGS=23"] = Reply(prompt=True, then=["+CMGS: 7", "OK"])
    await fake.send_lines('+CMTI: "SM",3')         # a URC, whenever the test wants
    fake.muted = True                              # a modem that stops answering (commands are still recorded)
    fake.unplug()                                  # master closed: the channel's reads fail with EIO

Replies are framed like a V.250 modem in verbose mode: every line as CR LF <line> CR LF. With echo on, the
command (and a payload, with its Ctrl-Z) is echoed first. byte_at_a_time=True writes every byte separately with
a short pause, so the reader sees many one-byte reads.
"""

from __future__ import annotations

import asyncio
import os
import tty
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

ESC, CTRL_Z = 0x1B, 0x1A


@dataclass
class Reply:
    lines: Sequence[str] = ()          # answer to the command (info lines and final code)
    prompt: bool = False               # answer "\r\n> " and wait for payload + Ctrl-Z (or ESC)
    then: Sequence[str] = ()           # answer after the payload's Ctrl-Z
    delay: float = 0.0                 # seconds before the answer starts
    raw: bytes | None = None           # exact bytes instead of framed lines


@dataclass
class FakeModem:
    link: str | os.PathLike | None = None
    echo: bool = True
    byte_at_a_time: bool = False
    byte_pause: float = 0.002
    script: dict[str, Reply | Callable[[str], Reply]] = field(default_factory=dict)
    default: Reply = field(default_factory=lambda: Reply(["ERROR"]))
    muted: bool = False
    commands: list[str] = field(default_factory=list)     # every command line received (ESC stripped)
    payloads: list[str] = field(default_factory=list)     # every payload terminated by Ctrl-Z
    cancelled: int = 0                                    # payloads cancelled with ESC
    received: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)          # no echo / line editing by the tty layer itself
        os.set_blocking(self.master, False)
        self.slave_name = os.ttyname(self._slave)
        self.port = str(self.link) if self.link else self.slave_name
        if self.link:
            _repoint(Path(self.link), self.slave_name)
        for cmd in ("AT", "ATE0", "ATE1", "ATZ", "AT+CMEE=1"):
            self.script.setdefault(cmd, Reply(["OK"]))
        self._inbuf = bytearray()
        self._in_payload: Reply | None = None
        self._out: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        self._writer: asyncio.Task | None = None
        self._got_command = asyncio.Event()
        self.plugged = False

    async def start(self) -> "FakeModem":
        asyncio.get_running_loop().add_reader(self.master, self._on_readable)
        self._writer = asyncio.create_task(self._write_loop())
        self.plugged = True
        return self

    # ---- test controls -----------------------------------------------------------------------------------------
    async def send(self, data: bytes | str) -> None:
        """Raw bytes to the channel, after anything queued before."""
        self._queue(data.encode() if isinstance(data, str) else data)
        await self.flush()

    async def send_lines(self, *lines: str) -> None:
        await self.send(_frame(lines))

    async def flush(self) -> None:
        await self._out.join()

    async def wait_command(self, count: int = 1, timeout: float = 2.0) -> str:
        """Wait until at least `count` commands were received; returns the last one."""
        async def _wait() -> None:
            while len(self.commands) < count:
                self._got_command.clear()
                await self._got_command.wait()
        await asyncio.wait_for(_wait(), timeout)
        return self.commands[-1]

    def unplug(self) -> None:
        """Like pulling the USB stick: the master goes away, the channel's next read fails with EIO."""
        if not self.plugged:
            return
        self.plugged = False
        asyncio.get_running_loop().remove_reader(self.master)
        if self._writer:
            self._writer.cancel()
        os.close(self.master)
        os.close(self._slave)

    async def stop(self) -> None:
        self.unplug()
        if self._writer:
            await asyncio.gather(self._writer, return_exceptions=True)

    # ---- the device side ---------------------------------------------------------------------------------------
    def _on_readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return   # no slave open right now (EIO); the channel will reopen
        self.received += data
        self._inbuf += data
        while self._take_one():
            pass

    def _take_one(self) -> bool:
        """Consume one command (up to CR) or one payload (up to Ctrl-Z / ESC) from the input buffer."""
        if self._in_payload is not None:
            ends = [i for i in (self._inbuf.find(CTRL_Z), self._inbuf.find(ESC)) if i >= 0]
            if not ends:
                return False
            end = min(ends)
            payload, terminator = bytes(self._inbuf[:end]), self._inbuf[end]
            del self._inbuf[:end + 1]
            self._on_payload(payload, terminator)
            return True
        end = self._inbuf.find(b"\r")
        if end < 0:
            return False
        line = bytes(self._inbuf[:end])
        del self._inbuf[:end + 1]
        self._on_command(line)
        return True

    def _on_command(self, raw: bytes) -> None:
        text = raw.replace(bytes([ESC]), b"").decode("ascii", "replace").strip()
        if not text:
            return   # an empty line (ESC + CR of a resync) gets no answer, as on most modems
        self.commands.append(text)
        self._got_command.set()
        if self.muted:
            return
        if self.echo:
            self._queue(raw + b"\r")
        reply = self.script.get(text, self.default)
        reply = reply(text) if callable(reply) else reply
        if reply.prompt:
            self._in_payload = reply
            self._queue(b"\r\n> ", reply.delay)
        else:
            self._queue(reply.raw if reply.raw is not None else _frame(reply.lines), reply.delay)

    def _on_payload(self, payload: bytes, terminator: int) -> None:
        reply, self._in_payload = self._in_payload, None
        if terminator == ESC:
            self.cancelled += 1
            return
        self.payloads.append(payload.decode("ascii", "replace"))
        if self.muted:
            return
        if self.echo:
            self._queue(payload + bytes([CTRL_Z]))
        self._queue(_frame(reply.then), reply.delay)

    def _queue(self, data: bytes, delay: float = 0.0) -> None:
        self._out.put_nowait((delay, data))

    async def _write_loop(self) -> None:
        while True:
            delay, data = await self._out.get()
            try:
                if delay:
                    await asyncio.sleep(delay)
                await self._write(data)
            finally:
                self._out.task_done()

    async def _write(self, data: bytes) -> None:
        chunks = [data[i:i + 1] for i in range(len(data))] if self.byte_at_a_time else [data]
        for chunk in chunks:
            if not self.plugged:
                return
            os.write(self.master, chunk)
            if self.byte_at_a_time:
                await asyncio.sleep(self.byte_pause)


def _frame(lines: Sequence[str]) -> bytes:
    return b"".join(b"\r\n" + line.encode("ascii") + b"\r\n" for line in lines)


def _repoint(link: Path, target: str) -> None:
    """Point `link` at `target` atomically, like udev re-creating /dev/serial/by-id/... after a replug."""
    tmp = link.with_name(link.name + ".new")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)
