"""Several recipients in one POST /v1/messages: `to` as an array of numbers, checked here; messages.py queues the
batch and serves GET /v1/batches/{id}. No AT, no SQL here.

Why the same key `to` and not a second one (`recipients`): one field says who receives, so there is no rule to learn
for a body with both or neither, and the answer's shape follows from the form the client chose: a string gets the
message, as it always did (nothing changes for existing clients); an array, even of one number, gets the batch.

An array is accepted whole or not at all:
- 1 to MAX_RECIPIENTS numbers, each normalized and checked as a lone `to` is; the first bad one is a 422 naming its
  index (`to[2]`).
- A number named twice (after normalizing: 0151... and +49151... are one number) is refused, naming both indexes,
  not merged: the answer lists one message per number in the request's order, so a client (or a compatibility layer)
  maps them back by position or by number; and one text twice to one handset in one request is a slip far more often
  than a wish (two requests send it twice).
- Each number is its own message (own id, state, delivery report, webhook events) and counts against the app's and
  its number's rate limits, one after another; the store queues them all in one transaction or none. A limit that
  runs out at the 6th of 10 numbers refuses the whole request: 429, with the Retry-After of that 6th message (the
  ones after it may need longer). The queue's bound must have room for all of them. More numbers than the app may
  send in an hour or a day could never fit: a 422.
- The messages share a batch id ("bat_..."): GET /v1/batches/{id} lists them in the request's order; an app sees its
  own batches only (another app's answers 404, as an unknown id does).
- A replay with the same Idempotency-Key answers the same batch (200); another body with the key is refused, as for
  one number.
"""

from __future__ import annotations

from .limits import MAX_RECIPIENTS
from .validation import DaemonView, destination, invalid
from ..store import Limit


def recipients(daemon: DaemonView, value: list, field: str = "to") -> list[str]:
    """The numbers of `to` (or the array named `field`), normalized, in order; else a 422 naming the array or the
    bad index."""
    if not 1 <= len(value) <= MAX_RECIPIENTS:
        raise invalid(field, f"an array of 1 to {MAX_RECIPIENTS} numbers (it has {len(value)})")
    seen: dict[str, int] = {}
    for index, raw in enumerate(value):
        number = destination(daemon, raw, f"{field}[{index}]")
        if number in seen:
            raise invalid(f"{field}[{index}]", f"the same number as {field}[{seen[number]}]; name each number once")
        seen[number] = index
    return list(seen)


def within_app_limits(count: int, app_limits: list[Limit], field: str = "to") -> None:
    """A batch larger than the app may send in one of its windows would be refused however long it waited: a 422
    now, not a 429 that a client would retry for ever."""
    for limit in app_limits:
        if count > limit.limit:
            raise invalid(field, f"{count} numbers, more than this app may send in {limit.window:g} s "
                                f"({limit.limit}); split the request")
