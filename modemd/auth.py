"""API bearer tokens: kept only as SHA-256 digests and compared in constant time.

Tokens are long random strings (not passwords), so a plain SHA-256 is the right digest: it keeps the token itself
out of memory dumps and config echoes, and there is nothing to brute-force. Sources, all merged: $MODEMD_TOKEN, a
systemd credential ($CREDENTIALS_DIRECTORY/modemd-token), and, for the simulated demo only, a token generated once
and saved 0600 in the state directory.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from .config_model import DEFAULT_APP as DEFAULT_APP_NAME
from .config_model import LOCAL_APP as LOCAL_APP_NAME
from .config_model import MIN_SECRET, SCOPES
from .config_reader import ConfigError

TOKEN_FILE = "api-token"
CREDENTIAL_NAME = "modemd-token"


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class App:
    """Who made a request: an app of the config ([[apps]]), the default app of the [auth] tokens, or the local admin
    (the admin socket). Messages and verifications belong to the app that made them."""
    name: str
    scopes: frozenset[str]
    sends_per_hour: int | None = None     # None: [limits] sends_per_hour
    sends_per_day: int | None = None

    @property
    def admin(self) -> bool:
        return "admin" in self.scopes

    def may(self, scope: str) -> bool:
        """admin may do everything the other scopes allow."""
        return scope in self.scopes or self.admin


ALL_SCOPES = frozenset(SCOPES)
DEFAULT_APP = App(DEFAULT_APP_NAME, ALL_SCOPES)   # the single-token setup of before apps could do everything
LOCAL_APP = App(LOCAL_APP_NAME, ALL_SCOPES)       # root and group modemd on the admin socket


class TokenSet:
    """Each token's digest -> its app. Built from plain tokens (the default app's) and the config's apps."""

    def __init__(self, tokens: list[str], apps: tuple = ()):
        self._digests = [(digest(t), DEFAULT_APP) for t in tokens if t]
        for app in apps:
            found = App(app.name, frozenset(app.scopes), app.sends_per_hour, app.sends_per_day)
            self._digests += [(digest(t), found) for t in app.tokens]

    def __bool__(self) -> bool:
        return bool(self._digests)

    def check(self, presented: str) -> App | None:
        """The app whose token this is. Constant time in the token's content: every digest is compared, match or
        not (tokens are unique across apps, config_sections checks it)."""
        candidate = digest(presented)
        found = None
        for stored, app in self._digests:
            if hmac.compare_digest(stored, candidate):
                found = app
        return found


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
