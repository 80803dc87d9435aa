"""API tokens: what a good one is, and where they come from besides the config file.

Sources, all merged by the daemon: the config ([auth] tokens, [[apps]] tokens), $MODEMD_TOKEN, a systemd credential
($CREDENTIALS_DIRECTORY/modemd-token), and, for the simulated demo only, a token generated once and saved 0600 in the
state directory (the CLI finds it there too).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .model import MIN_SECRET
from .reader import ConfigError

TOKEN_FILE = "api-token"
CREDENTIAL_NAME = "modemd-token"


def token_problem(token: str) -> str | None:
    """What is wrong with a bearer token, or None: the same rule for the config, $MODEMD_TOKEN and the credential."""
    if len(token) < MIN_SECRET:
        return f"must be at least {MIN_SECRET} characters (make one: openssl rand -hex 32)"
    if not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        return "must be printable ASCII without spaces (it travels in an HTTP header)"
    return None


def tokens_from_environment() -> list[str]:
    """$MODEMD_TOKEN and the systemd credential modemd-token. Raises ConfigError for a token that is too short or
    not printable ASCII (the config's tokens are held to the same rule)."""
    found = []
    if os.environ.get("MODEMD_TOKEN"):
        found.append(("$MODEMD_TOKEN", os.environ["MODEMD_TOKEN"].strip()))
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / CREDENTIAL_NAME).is_file():
        found.append((f"credential {CREDENTIAL_NAME}",
                      (Path(cred_dir) / CREDENTIAL_NAME).read_text(encoding="utf-8").strip()))
    for source, token in found:
        problem = token_problem(token)
        if problem:
            raise ConfigError(source, f"the token {problem}")
    return [token for _, token in found]


def generated_token(state_dir: Path) -> tuple[str, Path, bool]:
    """The token saved in the state directory, made on first use (0600 from creation on); True if made now."""
    path = state_dir / TOKEN_FILE
    made = not path.exists()
    if made:
        token = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(token + "\n")
    return path.read_text(encoding="utf-8").strip(), path, made
