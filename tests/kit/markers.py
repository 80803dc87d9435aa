"""Which tests start processes (the daemon, a simulator, the CLI, gammu, udevadm, a container): those carry the
e2e marker, so `pytest -m "not e2e"` runs the in-process suite alone. Decided from the code, not by hand: the
test's own source, the fixtures it uses, and every function or class of tests/ (this kit included) that they name,
followed through, mention one of STARTERS."""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

STARTERS = ("DaemonProcess", "SimProcess", "running_daemon", "run_modemd", "subprocess.", "Popen", "MODEMD",
            "nspawn.", "start_host", "fleet(")
TESTS = Path(__file__).resolve().parent.parent
_NAME = re.compile(r"\b[A-Za-z_]\w*\b")


class ProcessFinder:
    """starts_processes(function or class) -> bool, remembered per object (and safe from cycles)."""

    def __init__(self):
        self._seen: dict[object, bool] = {}

    def starts_processes(self, obj) -> bool:
        obj = inspect.unwrap(obj)
        if obj not in self._seen:
            self._seen[obj] = False           # a cycle (a helper naming itself) adds nothing
            source = _source(obj)
            self._seen[obj] = any(marker in source for marker in STARTERS) or any(
                self.starts_processes(helper) for helper in _helpers(obj, source))
        return self._seen[obj]


def _source(obj) -> str:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        return ""


def _helpers(obj, source: str):
    """The functions and classes defined under tests/ that `source` names, looked up where `obj` was defined."""
    namespace = getattr(obj, "__globals__", None)
    if namespace is None:
        namespace = vars(sys.modules[obj.__module__]) if obj.__module__ in sys.modules else {}
    for name in set(_NAME.findall(source)):
        value = namespace.get(name)
        if (inspect.isfunction(value) or inspect.isclass(value)) and value is not obj and _ours(value):
            yield value


def _ours(value) -> bool:
    try:
        return Path(inspect.getsourcefile(value)).resolve().is_relative_to(TESTS)
    except (OSError, TypeError):
        return False
