"""The bounds of the HTTP API and the defaults of a request's optional fields, each written once: the handlers check
requests against these constants, and the OpenAPI document (openapi.py) states them from the same ones.
tests/test_openapi.py walks the document, checks every bound in it against its constant, and sends a request at
each bound and one past it.

A bound that a lower layer decides is imported from there, not copied: how long a phone number may be (domain.numbers),
an app's name and the range of OTP lengths and lifetimes (config.model, where the [otp] settings are checked against
the same ranges), the message states and priorities (domain.sms).
"""

from __future__ import annotations

from ..config.model import MAX_APP_NAME, OTP_LENGTHS, OTP_TTLS
from ..domain.numbers import MAX_INPUT
from ..domain.sms import Priority, State

__all__ = ["MAX_BODY", "MAX_DEPTH", "MIN_TTL", "MAX_TTL", "MAX_IDEMPOTENCY_KEY", "DEFAULT_PAGE", "MAX_PAGE",
           "MAX_NUMBER", "MAX_ID", "MAX_APP_NAME", "MIN_OTP_TTL", "MAX_OTP_TTL", "MIN_CODE", "MAX_CODE",
           "MAX_TEMPLATE", "DEFAULT_PRIORITY", "PRIORITIES", "PRIORITY_NAMES", "QUEUE_IF_UNAVAILABLE",
           "MESSAGE_STATES", "MAX_RECIPIENTS", "DEFAULT_ADMIN_ROWS", "DEFAULT_ACTIVITY_HOURS", "MAX_ACTIVITY_HOURS",
           "MAX_ACTIVITY_SENDS"]

MAX_BODY = 64 * 1024             # bytes of a request body: our bodies are a few hundred; past it aiohttp answers 413
MAX_DEPTH = 32                   # our bodies are flat objects; 32 leaves room and stays far below the recursion limit
MIN_TTL = 1                      # seconds a message may wait unsent (POST /v1/messages `ttl`) ...
MAX_TTL = 7 * 24 * 3600          # ... a queued message older than a week is not what anyone still wants sent
MAX_IDEMPOTENCY_KEY = 255        # characters of an Idempotency-Key header
DEFAULT_PAGE = 50                # messages per page of GET /v1/messages and /v1/inbox without `limit` ...
MAX_PAGE = 500                   # ... and the most a `limit` may ask for
MAX_NUMBER = MAX_INPUT           # characters of a phone number as a client writes it (`to`)
# Numbers in one POST /v1/messages (`to` as an array): the batch is one transaction, held by the writer while its rows
# go in, and one answer (100 summaries are ~10 kB); a longer list is a mailing, better sent as several requests that
# a client can retry one by one.
MAX_RECIPIENTS = 100
MAX_ID = 64                      # characters of a message or verification id a client gives (ours have 30)
MIN_OTP_TTL, MAX_OTP_TTL = OTP_TTLS    # seconds a code is valid, when a POST /v1/otp asks for its own
MIN_CODE, MAX_CODE = OTP_LENGTHS       # digits of a code: issued (`length`) and checked (`code`)
MAX_TEMPLATE = 320               # characters of an OTP template before it is rendered and checked to fit one SMS

DEFAULT_PRIORITY = Priority.NORMAL     # a message that does not say; OTP codes are always high
# The wire names of the priorities, the default first.
PRIORITIES = {p.name.lower(): p for p in sorted(Priority, key=lambda p: p is not DEFAULT_PRIORITY)}
PRIORITY_NAMES = {priority: name for name, priority in PRIORITIES.items()}
QUEUE_IF_UNAVAILABLE = True            # queue a message (or code) even when no modem can send now
# The admin page (api/admin/): rows of its tables without `limit` (a screenful; `limit` goes up to MAX_PAGE), and the
# hours its plots cover: by default the last 3 (what an admin looks at after an alert), at most a day. A plot reads at
# most MAX_ACTIVITY_SENDS sends (a busy modem sends ~6 a minute: 24 h of it is ~9,000); past it the oldest minutes
# are left out and the answer says so.
DEFAULT_ADMIN_ROWS = 20
DEFAULT_ACTIVITY_HOURS, MAX_ACTIVITY_HOURS = 3, 24
MAX_ACTIVITY_SENDS = 20_000
MESSAGE_STATES = [state.value for state in State]       # the one list: domain.sms.State
