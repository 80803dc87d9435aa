"""The signature headers of one webhook POST: one pure function per scheme, all of one shape, picked by name.

A scheme takes the HMAC keys (several during a rotation: a receiver that holds any one of them can verify) and the
SignedPost, and returns the headers it adds. SCHEMES maps the names a [[webhooks]] table's `signatures` may hold
(config.model.SIGNATURE_SCHEMES) to them; the worker asks for signature_headers() and knows no scheme. Adding one
is a function here, its name in SCHEMES and in SIGNATURE_SCHEMES, and docs/webhooks.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

SIGNATURE_HEADER = "X-Modemd-Signature"
# Standard Webhooks 1.0, "Webhook headers": these exact lower-case names.
WEBHOOK_ID = "webhook-id"
WEBHOOK_TIMESTAMP = "webhook-timestamp"
WEBHOOK_SIGNATURE = "webhook-signature"
# android-sms-gateway's names (its PayloadSingingPlugin, and the app's docs, "Payload Signing").
ASG_SIGNATURE = "X-Signature"
ASG_TIMESTAMP = "X-Timestamp"


@dataclass(frozen=True)
class SignedPost:
    """What a signature may cover. event_id is the same on every attempt (receivers deduplicate on it); timestamp
    is this attempt's, in unix seconds (receivers refuse stale ones, so a captured request cannot be replayed)."""
    event_id: str
    timestamp: int
    body: bytes


Scheme = Callable[[Sequence[bytes], SignedPost], dict[str, str]]


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def modemd_headers(keys: Sequence[bytes], post: SignedPost) -> dict[str, str]:
    """Stripe's layout: X-Modemd-Signature: t=<timestamp>,v1=<hex HMAC-SHA256(key, "<timestamp>." + body)>, a v1
    per key."""
    message = f"{post.timestamp}.".encode() + post.body
    return {SIGNATURE_HEADER: ",".join([f"t={post.timestamp}", *(f"v1={_hmac(k, message).hex()}" for k in keys)])}


def standard_headers(keys: Sequence[bytes], post: SignedPost) -> dict[str, str]:
    """Standard Webhooks 1.0, "Signature scheme": webhook-signature is "v1,<base64 HMAC-SHA256(key,
    "<id>.<timestamp>." + body)>", space-separated per key. The spec warns that an id holding a "." could make one
    id and timestamp pass for another: modemd's event ids are evt_ and hex digits (payload.event_id)."""
    message = f"{post.event_id}.{post.timestamp}.".encode() + post.body
    signatures = " ".join("v1," + base64.b64encode(_hmac(k, message)).decode("ascii") for k in keys)
    return {WEBHOOK_ID: post.event_id, WEBHOOK_TIMESTAMP: str(post.timestamp), WEBHOOK_SIGNATURE: signatures}


def asg_headers(keys: Sequence[bytes], post: SignedPost) -> dict[str, str]:
    """android-sms-gateway: X-Signature is the hex HMAC-SHA256(key, body + "<timestamp>"), X-Timestamp the
    timestamp. Its receivers hold one key and its header carries one signature: the first key's (during a rotation,
    the new one, listed first)."""
    timestamp = str(post.timestamp)
    return {ASG_SIGNATURE: _hmac(keys[0], post.body + timestamp.encode()).hex(), ASG_TIMESTAMP: timestamp}


SCHEMES: dict[str, Scheme] = {"modemd": modemd_headers, "standard": standard_headers, "asg": asg_headers}


def signature_headers(schemes: Iterable[str], keys: Sequence[bytes], post: SignedPost) -> dict[str, str]:
    """The headers of every scheme named (names from config.model.SIGNATURE_SCHEMES, which the config checked)."""
    headers: dict[str, str] = {}
    for name in schemes:
        headers.update(SCHEMES[name](keys, post))
    return headers
