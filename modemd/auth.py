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
from pathlib import Path

TOKEN_FILE = "api-token"
CREDENTIAL_NAME = "modemd-token"


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class TokenSet:
    def __init__(self, tokens: list[str]):
        self._digests = [digest(t) for t in tokens if t]

    def __bool__(self) -> bool:
        return bool(self._digests)

    def check(self, presented: str) -> bool:
        """Constant time in the token's content; every stored digest is compared, match or not."""
        candidate = digest(presented)
        found = False
        for stored in self._digests:
            found |= hmac.compare_digest(stored, candidate)
        return found


def tokens_from_environment() -> list[str]:
    tokens = []
    if os.environ.get("MODEMD_TOKEN"):
        tokens.append(os.environ["MODEMD_TOKEN"].strip())
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / CREDENTIAL_NAME).is_file():
        tokens.append((Path(cred_dir) / CREDENTIAL_NAME).read_text(encoding="utf-8").strip())
    return tokens


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
