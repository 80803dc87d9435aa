"""Logging helpers: a TRACE level (5) for raw serial bytes, and an adapter that prefixes the modem name."""

from __future__ import annotations

import logging

# Below DEBUG: raw serial traffic is too chatty for debug logs but is what one needs for a bad modem.
TRACE = 5
logging.addLevelName(TRACE, "TRACE")


class ModemLogAdapter(logging.LoggerAdapter):
    """Prefixes every message with "[<modem name>] " and puts the name in the record as `modem`."""

    def __init__(self, logger: logging.Logger, name: str):
        super().__init__(logger, {"modem": name})
        # The prefix becomes part of the %-format string, so a '%' in a configured name must not reach it.
        self.prefix = "[" + name.replace("%", "_") + "] "

    def process(self, msg, kwargs):
        kwargs.setdefault("extra", self.extra)
        return self.prefix + str(msg), kwargs

    def trace(self, msg, *args, **kwargs) -> None:
        self.log(TRACE, msg, *args, **kwargs)
