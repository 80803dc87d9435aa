"""Part of the modem layer, behind modem.py: how a Modem asks. No AT command of its own is written here.

`ModemCommands` is a small helper a Modem (and its Sim) owns: it sends one command and waits for its answer,
retries a command while the SIM is busy, treats a command a device may not support as optional, and picks the
information line out of an answer. It holds no state of the modem; it only knows the channel and whom to log for.
"""

from __future__ import annotations

import asyncio
import logging

from ..at.channel import AtChannel
from ..domain.errors import CmeError, CommandError

# CME 14 "SIM busy" right after PIN entry or power-up lasts a few seconds on real SIMs (python-gsmmodem #10/#11).
SIM_BUSY_RETRIES = 10
SIM_BUSY_DELAY = 0.5
# Plain commands answer within a second on every modem we know; +COPS? can take longer while the radio searches.
COMMAND_TIMEOUT = 10.0


class ModemCommands:
    def __init__(self, name: str, channel: AtChannel, log: logging.LoggerAdapter):
        self.name = name
        self.channel = channel
        self.log = log

    async def run(self, command: str, *, expect: str | None = None, timeout: float = COMMAND_TIMEOUT,
                  secret: bool = False) -> list[str]:
        """One command, its information lines; a +CME/+CMS ERROR, a timeout or a lost port raises (AtChannel)."""
        return await self.channel.command(command, timeout=timeout, expect=expect, secret=secret)

    async def retry_busy(self, command: str, expect: str | None) -> list[str]:
        for attempt in range(SIM_BUSY_RETRIES):
            try:
                return await self.run(command, expect=expect)
            except CmeError as exc:
                if exc.code != 14 or attempt == SIM_BUSY_RETRIES - 1:
                    raise
                await asyncio.sleep(SIM_BUSY_DELAY)
        raise AssertionError("unreachable")

    async def info(self, command: str, prefix: str) -> str:
        """The value of a one-line information response, with or without its '+CMD:' prefix."""
        lines = await self.retry_busy(command, prefix)
        return _strip_prefix(lines[0], prefix) if lines else ""

    async def optional_info(self, command: str, prefix: str) -> str:
        """info(), or "" when the device does not have the command (ERROR, +CME ERROR)."""
        try:
            return await self.info(command, prefix)
        except (CommandError, CmeError) as exc:
            self.log.debug("[%s] %s not available: %s", self.name, command, exc)
            return ""

    async def optional(self, command: str, *, timeout: float = COMMAND_TIMEOUT) -> bool:
        """A setting a device may refuse without harm: False (logged at debug) when it does."""
        try:
            await self.run(command, timeout=timeout)
            return True
        except (CommandError, CmeError) as exc:
            self.log.debug("[%s] %s refused: %s", self.name, command, exc)
            return False


def first_line(lines: list[str], prefix: str) -> str:
    for line in lines:
        if line.startswith(prefix):
            return line
    raise CommandError(f"expected a {prefix} line, got {lines!r}")


def _strip_prefix(line: str, prefix: str) -> str:
    return line[len(prefix):].strip() if line.startswith(prefix) else line.strip()
