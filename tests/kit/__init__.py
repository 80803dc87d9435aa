"""The test kit, shared by tests/ and bench/ (DESIGN.md, "Style": one kit).

  wait        wait_for (blocking) and until (async): one meaning, wait for an event, never for nothing to happen
  processes   modemd as a user runs it: SimProcess (`modemd simulate`, driven through modemd's ControlClient),
              DaemonProcess (`modemd run`), running_daemon() (ready, and stopped at the end), run_modemd (the CLI),
              free_port, http_get, write_config, config_toml, TOKEN, MODEMD
  store       open_store (a real Store on a fresh file), outbound (a queued message), in_state / recorded (waits)
  services    running_outbox (an Outbox on scripted modems, stopped at the end), FAST (its retry policy)
  api         FakeDaemon and api_client: the HTTP API in this process over a real store
  rawhttp     raw_request, exchange, beside_healthz: HTTP byte for byte (hostile input)
  webhooks    Receiver: one webhook receiver, signatures checked with docs/webhooks.md's own code
  notify      NotifySocket: systemd's notify socket
  markers     ProcessFinder: which tests start processes (the e2e marker)

Imports: modemd's public names and the standard library (aiohttp for the API client); not pytest, so bench/ can use
it too (tests/conftest.py wraps it in fixtures). Tests import it as `kit`, bench/ as `tests.kit`.
"""

from .api import FakeDaemon, api_client
from .markers import ProcessFinder
from .notify import NotifySocket
from .processes import (MODEMD, TOKEN, DaemonProcess, SimProcess, clean_environment, config_toml, free_port,
                        http_get, run_modemd, running_daemon, stop_process, write_config)
from .services import FAST, running_outbox
from .store import in_state, open_store, outbound, recorded
from .wait import until, wait_for
from .webhooks import SECRET, Receiver, doc_blocks, verify_signature

__all__ = ["until", "wait_for", "MODEMD", "TOKEN", "DaemonProcess", "SimProcess", "running_daemon", "run_modemd",
           "free_port", "http_get", "write_config", "config_toml", "clean_environment", "stop_process",
           "open_store", "outbound", "in_state", "recorded", "FAST", "running_outbox", "FakeDaemon", "api_client",
           "Receiver", "SECRET", "verify_signature", "doc_blocks", "NotifySocket", "ProcessFinder"]
