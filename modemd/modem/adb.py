"""adb for a phone on USB without a network: `adb -s SERIAL forward tcp:LOCAL tcp:8080` so modemd reaches the
app's local server on this host's loopback, and `adb -s SERIAL reverse tcp:P tcp:P` so the app's webhooks to
http://127.0.0.1:P reach modemd's listener. Run again whenever the phone reconnects (adb drops both when the USB
device goes away). Needs Debian's `adb` package; its absence and a missing phone are reported in words a person can
act on.
"""

from __future__ import annotations

import asyncio
import shutil

from ..domain.errors import ChannelClosed

# adb's commands answer in well under a second when the server runs; the first call starts the adb server, which
# takes a few seconds.
ADB_TIMEOUT = 20.0


class AdbMissing(ChannelClosed):
    """No adb on PATH: nothing modemd can retry its way out of."""


class PhoneNotOnAdb(ChannelClosed):
    """adb runs, but the phone is not there (unplugged, USB debugging off, or this host not yet allowed)."""


class AdbBridge:
    def __init__(self, serial: str, local_port: int, *, remote_port: int = 8080, adb: str = "adb"):
        self.serial = serial
        self.local_port = local_port
        self.remote_port = remote_port
        self.adb = adb

    async def connect(self, reverse_port: int | None) -> None:
        """Forward the local server, and reverse the webhook listener's port if there is one."""
        await self._run("forward", f"tcp:{self.local_port}", f"tcp:{self.remote_port}")
        if reverse_port is not None:
            await self._run("reverse", f"tcp:{reverse_port}", f"tcp:{reverse_port}")

    async def _run(self, *args: str) -> str:
        program = shutil.which(self.adb)
        if program is None:
            raise AdbMissing(f"adb_serial is set but `{self.adb}` is not installed (Debian: apt install adb)")
        try:
            process = await asyncio.create_subprocess_exec(program, "-s", self.serial, *args,
                                                           stdout=asyncio.subprocess.PIPE,
                                                           stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise AdbMissing(f"cannot run {program}: {exc}") from exc
        try:
            async with asyncio.timeout(ADB_TIMEOUT):
                out, err = await process.communicate()
        except TimeoutError:
            process.kill()
            await process.wait()
            raise ChannelClosed(f"adb {' '.join(args)} did not finish in {ADB_TIMEOUT:.0f} s") from None
        if process.returncode != 0:
            raise adb_failure(self.serial, args, _error_lines(err.decode(errors="replace")))
        return out.decode(errors="replace")


def _error_lines(stderr: str) -> str:
    """adb's own words, without the "* daemon not running; starting now" lines of a first call."""
    return " ".join(line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("* "))


def adb_failure(serial: str, args: tuple[str, ...], text: str) -> ChannelClosed:
    lowered = text.lower()
    if "not found" in lowered or "no devices" in lowered or "offline" in lowered:
        return PhoneNotOnAdb(f"phone {serial} is not connected over adb ({text}): plug it in, enable USB "
                             "debugging, and accept this computer's key on the phone")
    if "unauthorized" in lowered:
        return PhoneNotOnAdb(f"phone {serial} has not allowed this computer yet ({text}): accept the \"Allow USB "
                             "debugging?\" prompt on the phone")
    return ChannelClosed(f"adb {' '.join(args)} failed for {serial}: {text or 'no message'}")
