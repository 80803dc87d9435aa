"""OTP texts at rest: sealed with AES-256-GCM under a key that is not in the database.

A queued OTP's SMS text holds the code, and the code must not be readable from a copy of the database file or its
WAL (a backup, a support bundle, a stolen disk image of /var/lib/modemd/modemd.db). The text is sealed when the
code is issued and opened only by the outbox at the moment it is sent; after that the text is erased anyway.

The key is derived from the OTP secret (the otp-secret file beside the database, or the systemd credential
modemd-otp-secret, which never touches the disk): HMAC-SHA256(secret, "modemd otp text seal v1"). One secret, two
independent keys (this one and the HMAC key of the stored codes). The message id is the associated data, so a
sealed text copied onto another row does not open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "sealed:v1:"
NONCE_BYTES = 12              # AES-GCM's standard nonce; random per text (2^-32 collision bound far off)
_KEY_LABEL = b"modemd otp text seal v1"


class SealBroken(Exception):
    """A sealed text that does not open: another key (the OTP secret changed) or a damaged row."""


def is_sealed(body: str | None) -> bool:
    return bool(body) and body.startswith(PREFIX)


class Sealer:
    def __init__(self, secret: bytes):
        self._aead = AESGCM(hmac.digest(secret, _KEY_LABEL, hashlib.sha256))

    def seal(self, text: str, message_id: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, text.encode("utf-8"), message_id.encode("ascii"))
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, body: str, message_id: str) -> str:
        """The text; a body that is not sealed comes back as it is (rows written before sealing existed)."""
        if not is_sealed(body):
            return body
        try:
            raw = base64.urlsafe_b64decode(body[len(PREFIX):])
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], message_id.encode("ascii")).decode()
        except (InvalidTag, ValueError) as exc:
            raise SealBroken(f"the sealed text of {message_id} does not open (was the OTP secret replaced?)") from exc
