"""Where modemd keeps its state: one answer for the daemon and for the CLI that looks for its token."""

from __future__ import annotations

import os
from pathlib import Path


def default_state_dir() -> Path:
    """$STATE_DIRECTORY under systemd (StateDirectory=), else the XDG state directory of the user."""
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "modemd"
