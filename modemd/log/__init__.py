"""The log layer, used by every other package: logging set-up, a TRACE level (5) for raw serial bytes, an
adapter that prefixes the modem name, a throttle and a flood filter for repeated lines, and journald's native
protocol.

Modules: setup (configure_logging, TRACE, ModemLogAdapter, Throttle, FloodFilter, JournalFormatter), journal (records
to journald's socket with MODEMD_* fields).
May import: the standard library only. Sits beside codec, domain and config at the bottom.
"""

from .setup import TRACE, FloodFilter, JournalFormatter, ModemLogAdapter, Throttle, configure_logging

__all__ = ["TRACE", "FloodFilter", "JournalFormatter", "ModemLogAdapter", "Throttle", "configure_logging"]
