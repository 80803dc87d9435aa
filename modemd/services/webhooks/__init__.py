"""The webhook service: signed POSTs of stored events, retried, resumed after restart.

Modules: dispatcher (WebhookDispatcher: captures events from the durable logs into deliveries, one worker per
webhook; the guarantees in its docstring), worker (HookWorker: one webhook's POSTs, Backoff, the headers), payload
(the body and event id of one POST; pure), signing (its signature headers, one function per scheme; pure).
"""

from .dispatcher import WebhookDispatcher
from .signing import SIGNATURE_HEADER
from .worker import EVENT_ID_HEADER, EVENT_TYPE_HEADER, USER_AGENT, Backoff

__all__ = ["WebhookDispatcher", "Backoff", "SIGNATURE_HEADER", "EVENT_ID_HEADER", "EVENT_TYPE_HEADER", "USER_AGENT"]
