"""The AT layer: one serial port speaking V.250 / TS 27.005 / TS 27.007, one command in flight.

Modules: channel (AtChannel: serial I/O, command/response, URC dispatch, timeouts, resync; the face of this layer),
codec (bytes -> lines, prompts, final result codes; no I/O), replies (information lines and URC fields -> typed
values; no I/O), router (whose line is it: the pending command's or a URC), urc (the URC table and multi-line URC
assembly), serial (the pyserial-asyncio-fast link), port_check (why a port cannot be opened), redact (what of an
exchange may reach a log).
May import: domain (errors), log. Knows nothing of SMS meaning: that is the modem's job.
"""

from .channel import AtChannel, Urc

__all__ = ["AtChannel", "Urc"]
