"""The OpenAPI 3.1 description served at GET /openapi.json. tests/test_openapi.py keeps it in step with the routes
and fuzzes the server against it (schemathesis).

Every bound in it (maxLength, minimum, maximum, pattern, enum) comes from api/limits.py, the constants the handlers
check requests against; the scopes are those of the config (config.model.SCOPES)."""

from __future__ import annotations

from .. import __version__
from ..config.model import SCOPES
from .modem_health import HEALTH_SCHEMAS
from .limits import (DEFAULT_ACTIVITY_HOURS, DEFAULT_ADMIN_ROWS, MAX_ACTIVITY_HOURS, DEFAULT_PRIORITY, MAX_APP_NAME, MAX_CODE, MAX_ID, MAX_IDEMPOTENCY_KEY, MAX_NUMBER, MAX_OTP_TTL,
                     MAX_PAGE, MAX_RECIPIENTS, MAX_TEMPLATE, MAX_TTL, MESSAGE_STATES, MIN_CODE, MIN_OTP_TTL, MIN_TTL,
                     PRIORITIES, PRIORITY_NAMES, QUEUE_IF_UNAVAILABLE)
from .routing import ROUTE_SCHEMA

E164 = {"type": "string", "description": "phone number; E.164 (+4915112345678) or national with the server's "
        "default region", "maxLength": MAX_NUMBER, "examples": ["+4915112345678"]}
# POST /v1/messages `to`: one number (a string) or several (an array; api/recipients.py). One schema of two types:
# the string keywords bind the string, the array ones the array (JSON Schema 2020-12 applies each to its own type).
RECIPIENTS = {**E164, "type": ["string", "array"], "items": E164, "minItems": 1, "maxItems": MAX_RECIPIENTS,
              "uniqueItems": True, "description": "a phone number, or an array of them: one message each, refused "
                                                  "whole if one is bad (`field` names its index: to[2]) or named twice",
              "examples": ["+4915112345678", ["+4915112345678", "+4917612345678"]]}
TIMESTAMP = {"type": "string", "format": "date-time"}
PRIORITY = {"enum": list(PRIORITIES)}
# The store's outcomes of a check (store.records.VerifyOutcome.status, a plain string there) and the modem states
# (modem.state.ModemState, which the api layer may not import): written here until a lower layer the api may import
# lists them.
VERIFY_STATES = ["approved", "pending", "expired", "max_attempts_reached", "not_found"]
MODEM_STATES = ["offline", "initializing", "sim_locked", "not_registered", "ready", "failed", "paused",
                "not_responding", "host_lost"]     # host_lost: on a fleet, the modem's host stopped renewing its lease
PAGE_LIMIT = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}


def _integer(low: int, high: int) -> dict:
    """An integer from `low` to `high`, or null (no deadline for a message's ttl; the [otp] setting for a code's)."""
    return {"type": ["integer", "null"], "minimum": low, "maximum": high}


def _problem_response(description: str, retry_after: bool = False) -> dict:
    response = {"description": description,
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    if retry_after:
        response["headers"] = {"Retry-After": {"schema": {"type": "string"}, "description": "seconds"}}
    return response


def _json(schema_ref: str, description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}}


def _json_either(description: str, *schema_refs: str) -> dict:
    """A JSON answer of one of these schemas (which one: see the operation's description)."""
    return {"description": description, "content": {"application/json": {"schema": {
        "anyOf": [{"$ref": f"#/components/schemas/{ref}"} for ref in schema_refs]}}}}


def _body(schema_ref: str) -> dict:
    return {"required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}}


STORAGE = _problem_response("the database cannot record or read now (disk full, I/O error); nothing was done",
                            retry_after=True)
COMMON = {"400": _problem_response("malformed JSON"), "401": _problem_response("missing or wrong bearer token"),
          "403": _problem_response("the token's app lacks the scope this operation needs"),
          "413": _problem_response("body too large"), "415": _problem_response("not application/json"),
          "422": _problem_response("a field is invalid; `field` names it"), "503": STORAGE}
AUTHED = {"401": _problem_response("missing or wrong bearer token"),
          "403": _problem_response("the token's app lacks the scope this operation needs"),
          "422": _problem_response("an unknown query parameter"), "503": STORAGE}
# POSTs that queue an SMS have a second reason for 503.
NO_MODEM_OR_STORAGE = _problem_response("no modem can send and the client asked not to queue; the queue is full "
                                        "([limits] max_queued; codes have a reserve); or the database cannot "
                                        "record now (disk full, I/O error). Nothing was queued.", retry_after=True)
SECURED = [{"bearer": []}]   # any app's token


def scoped(*scopes: str) -> list[dict]:
    """The security requirement of an operation: a token of an app with any one of these scopes (OpenAPI 3.1 lets
    a non-OAuth scheme list role names). admin has them all. The middleware enforces what is written here."""
    unknown = set(scopes) - set(SCOPES)
    if unknown:
        raise ValueError(f"not a scope of config.model.SCOPES: {', '.join(sorted(unknown))}")
    return [{"bearer": [scope]} for scope in scopes]


SCHEMAS = {
    "Problem": {"type": "object", "required": ["type", "title", "status"], "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "field": {"type": "string"}, "retry_after": {"type": "integer"},
        "status_now": {"type": "string"},
        "first_id": {"type": "string", "description": "the message an Idempotency-Key was first used for"},
        "first_batch_id": {"type": "string", "description": "its batch, if that request named several numbers"},
        "known": {"type": "array", "items": {"type": "string"},
                  "description": "an unknown modem or group: the names known"}}},
    "NewMessage": {"type": "object", "required": ["to", "text"], "additionalProperties": False, "properties": {
        "to": RECIPIENTS, "text": {"type": "string", "minLength": 1, "description": "any Unicode; split into parts"},
        "priority": {**PRIORITY, "default": PRIORITY_NAMES[DEFAULT_PRIORITY]},
        "ttl": {**_integer(MIN_TTL, MAX_TTL), "description": "seconds until it expires unsent; null = no deadline"},
        "queue_if_unavailable": {"type": "boolean", "default": QUEUE_IF_UNAVAILABLE}, **ROUTE_SCHEMA}},
    "MessageSummary": {"type": "object", "required": ["id", "status", "to", "parts"], "properties": {
        "id": {"type": "string"}, "status": {"enum": MESSAGE_STATES}, "to": {"type": "string"},
        "parts": {"type": "integer", "minimum": 1}}},
    "MessageEvents": {"type": "object", "required": ["id", "status", "events"], "properties": {
        "id": {"type": "string"}, "status": {"enum": MESSAGE_STATES},
        "events": {"type": "array", "items": {"type": "object", "required": ["at", "from", "to", "reason"],
                                              "properties": {
            "at": TIMESTAMP, "from": {"enum": [*MESSAGE_STATES, None], "description": "null: the message was accepted"},
            "to": {"enum": MESSAGE_STATES}, "reason": {"type": "string"}}}}}},
    "Message": {"type": "object", "required": ["id", "status", "to", "parts", "priority", "attempts", "created_at",
                                               "route"],
                "properties": {
        "route": {"description": "the modem or group it goes through; null: any modem",
                  "oneOf": [{"type": "null"},
                            {"type": "object", "required": ["modem"], "properties": {"modem": {"type": "string"}}},
                            {"type": "object", "required": ["group"], "properties": {"group": {"type": "string"}}}]},
        "waiting": {"type": "string", "description": "queued for a route no modem can serve now: which and why "
                                                     "(GET /v1/messages/{id} only)"},
        "id": {"type": "string"}, "status": {"enum": MESSAGE_STATES}, "to": {"type": "string"},
        "parts": {"type": "integer"}, "priority": PRIORITY, "attempts": {"type": "integer"},
        "created_at": TIMESTAMP, "sent_at": TIMESTAMP, "delivered_at": TIMESTAMP, "expires_at": TIMESTAMP,
        "modem": {"type": "string"}, "possible_duplicate": {"type": "boolean"},
        "batch_id": {"type": "string", "description": "the request named several numbers: GET /v1/batches/{id}"},
        "error": {"type": "object", "properties": {"code": {"type": ["string", "null"]},
                                                    "message": {"type": ["string", "null"]}}}}},
    "Batch": {"type": "object", "required": ["batch_id", "messages"], "properties": {
        "batch_id": {"type": "string"},
        "messages": {"type": "array", "items": {"$ref": "#/components/schemas/MessageSummary"},
                     "description": "one per number, in the request's order"}}},
    "BatchView": {"type": "object", "required": ["batch_id", "messages"], "properties": {
        "batch_id": {"type": "string"},
        "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"},
                     "description": "one per number, in the request's order"}}},
    "MessagePage": {"type": "object", "required": ["data", "next_after"], "properties": {
        "data": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
        "next_after": {"type": ["string", "null"]}}},
    "NewOtp": {"type": "object", "required": ["to"], "additionalProperties": False, "properties": {
        "to": E164, "ttl": _integer(MIN_OTP_TTL, MAX_OTP_TTL), "length": _integer(MIN_CODE, MAX_CODE),
        "template": {"type": ["string", "null"], "maxLength": MAX_TEMPLATE,
                     "description": "must contain {code}; may use {app}, {minutes}; must fit one GSM-7 SMS"},
        "queue_if_unavailable": {"type": "boolean", "default": QUEUE_IF_UNAVAILABLE}, **ROUTE_SCHEMA}},
    "OtpUnlock": {"type": "object", "required": ["to"], "additionalProperties": False, "properties": {
        "to": E164, "app": {"type": ["string", "null"], "minLength": 1, "maxLength": MAX_APP_NAME,
                            "description": "only this app's lock (default: every app's)"}}},
    "OtpUnlocked": {"type": "object", "required": ["to", "unlocked"], "properties": {
        "to": {"type": "string"}, "unlocked": {"type": "integer", "minimum": 0}}},
    "Otp": {"type": "object", "required": ["id", "to", "status", "expires_at", "message_id", "sends"], "properties": {
        "id": {"type": "string"}, "to": {"type": "string"}, "status": {"const": "pending"},
        "expires_at": TIMESTAMP, "message_id": {"type": "string", "description": "this send's SMS"},
        "sends": {"type": "integer", "minimum": 1, "description": "SMS this code went out in: a send while the app's "
                  "code for the number is pending sends that code again, same id and expiry"}}},
    "OtpCheck": {"type": "object", "required": ["code"], "additionalProperties": False, "properties": {
        "to": E164, "id": {"type": "string", "minLength": 1, "maxLength": MAX_ID},
        "code": {"type": "string", "pattern": f"^[0-9]{{{MIN_CODE},{MAX_CODE}}}$"}}},
    "OtpResult": {"type": "object", "required": ["valid", "status"], "properties": {
        "valid": {"type": "boolean"}, "status": {"enum": VERIFY_STATES},
        "attempts_left": {"type": "integer", "minimum": 0}}},
    "Modem": {"type": "object", "required": ["name", "port", "state"], "properties": {
        "name": {"type": "string"}, "port": {"type": "string"},
        "state": {"enum": MODEM_STATES},
        "signal_dbm": {"type": ["integer", "null"]}, "rssi": {"type": ["integer", "null"]},
        "operator": {"type": ["string", "null"]}, "registration": {"type": "string"},
        "manufacturer": {"type": ["string", "null"]}, "model": {"type": ["string", "null"]},
        "imei": {"type": ["string", "null"], "description": "masked"},
        "iccid": {"type": ["string", "null"], "description": "masked"},
        "imsi": {"type": ["string", "null"], "description": "masked (MCC+MNC and the last two digits)"},
        "queue_depth": {"type": "integer", "description": "messages queued in all (this modem's share: queue)"},
        "last_error": {"type": ["string", "null"]},
        "host": {"type": ["string", "null"], "description": "the modemd host the modem is on ([database] node)"},
        "groups": {"type": "array", "items": {"type": "string"},
                   "description": "its [[modems]] groups: a send's \"group\" and the [[routes]] name them"},
        "host_renewed_at": {**TIMESTAMP, "type": ["string", "null"],
                            "description": "when that host last renewed its lease on the shared database (null: "
                                           "one host on SQLite)"},
        "health": {"$ref": "#/components/schemas/ModemHealth"},
        "counts": {"$ref": "#/components/schemas/ModemCounts"},
        "queue": {"$ref": "#/components/schemas/ModemQueue"}}},
    **HEALTH_SCHEMAS,                   # ModemHealth, ModemCounts, ModemQueue (api/modem_health.py)
    "ModemList": {"type": "object", "required": ["data"], "properties": {
        "data": {"type": "array", "items": {"$ref": "#/components/schemas/Modem"}}}},
    "InboundSms": {"type": "object", "required": ["id", "from", "text", "parts", "complete", "modem", "received_at"],
                   "properties": {
        "id": {"type": "string"}, "from": {"type": "string", "description": "number or alphanumeric sender"},
        "text": {"type": "string"}, "parts": {"type": "integer"},
        "complete": {"type": "boolean", "description": "false: parts were missing after the reassembly timeout"},
        "modem": {"type": "string"}, "received_at": TIMESTAMP, "sent_at": TIMESTAMP}},
    "InboxPage": {"type": "object", "required": ["data", "next_after"], "properties": {
        "data": {"type": "array", "items": {"$ref": "#/components/schemas/InboundSms"}},
        "next_after": {"type": ["string", "null"], "description": "pass as `after` to get what came since"}}},
    "Port": {"type": "object", "required": ["path", "realpath", "status"], "properties": {
        "path": {"type": "string"}, "realpath": {"type": "string"},
        "status": {"type": "string", "description": "modem, not a modem, in use, unavailable, ours (held by a "
                                                   "configured modem), another port of the same modem"},
        "detail": {"type": "string"}, "manufacturer": {"type": "string"}, "model": {"type": "string"},
        "imei": {"type": "string"}, "iccid": {"type": "string"}, "imsi": {"type": "string"},
        "modem": {"type": ["string", "null"], "description": "the configured modem it is or is held by"},
        "config": {"type": ["string", "null"], "description": "a [[modems]] table to paste for an unconfigured modem"}}},
    "PortList": {"type": "object", "required": ["data"], "properties": {
        "data": {"type": "array", "items": {"$ref": "#/components/schemas/Port"}}}},
    "AdminQueue": {"type": "object", "required": ["counts", "depth", "oldest_queued_at", "oldest_queued_age_s"],
                   "properties": {
        "counts": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0},
                   "description": "messages per state (states with none left out)"},
        "depth": {"type": "integer", "minimum": 0, "description": "messages queued"},
        "oldest_queued_at": {**TIMESTAMP, "type": ["string", "null"], "description": "null: the queue is empty"},
        "oldest_queued_age_s": {"type": ["number", "null"], "minimum": 0}}},
    "AdminMessages": {"type": "object", "required": ["data"], "properties": {
        "data": {"type": "array", "items": {"$ref": "#/components/schemas/Message"},
                 "description": "newest first, every app's; `to` masked (+4915****678)"}}},
    "AdminWebhooks": {"type": "object", "required": ["pending", "data"], "properties": {
        "pending": {"type": "integer", "minimum": 0, "description": "deliveries pending in all"},
        "data": {"type": "array", "description": "newest first; never a body", "items": {
            "type": "object", "required": ["seq", "hook", "event", "state", "attempts", "queued_at"], "properties": {
                "seq": {"type": "integer"}, "hook": {"type": "string", "description": "the webhook's key"},
                "event": {"type": "string"}, "state": {"enum": ["pending", "failed"]},
                "attempts": {"type": "integer", "minimum": 0}, "queued_at": TIMESTAMP,
                "next_attempt_at": {**TIMESTAMP, "type": ["string", "null"]},
                "finished_at": {**TIMESTAMP, "type": ["string", "null"]},
                "last_error": {"type": ["string", "null"]}}}}}},
    "AdminActivity": {"type": "object", "required": ["since", "until", "minutes", "truncated"], "properties": {
        "since": TIMESTAMP, "until": TIMESTAMP,
        "minutes": {"type": "array", "description": "minutes with at least one send, oldest first", "items": {
            "type": "object", "required": ["at", "sends", "latency_median_s", "latency_max_s"], "properties": {
                "at": TIMESTAMP, "sends": {"type": "integer", "minimum": 1},
                "latency_median_s": {"type": "number", "minimum": 0, "description": "accepted to sent"},
                "latency_max_s": {"type": "number", "minimum": 0}}}},
        "truncated": {"type": "boolean", "description": "too many sends to read: the oldest minutes are left out"}}},
    "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
    "Ready": {"type": "object", "required": ["ready", "modems", "modems_ready", "hosts", "hosts_ready"], "properties": {
        "ready": {"type": "boolean", "description": "a message accepted now can be sent, by any host of the fleet"},
        "modems": {"type": "integer"}, "modems_ready": {"type": "integer"},
        "hosts": {"type": "integer"}, "hosts_ready": {"type": "integer"}}},
}

ADMIN_LIMIT = {"name": "limit", "in": "query", "schema": {**PAGE_LIMIT, "default": DEFAULT_ADMIN_ROWS}}
MESSAGE_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": MAX_ID}}
BATCH_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": MAX_ID}}

PATHS = {
    "/healthz": {"get": {"summary": "the process is alive", "security": [],
                         "responses": {"200": _json("Health", "alive")}}},
    "/readyz": {"get": {"summary": "at least one modem can send", "security": [],
                        "responses": {"200": _json("Ready", "ready"), "503": _json("Ready", "no modem can send")}}},
    "/openapi.json": {"get": {"summary": "this document", "security": [],
                              "responses": {"200": {"description": "OpenAPI 3.1",
                                                    "content": {"application/json": {"schema": {"type": "object"}}}}}}},
    "/metrics": {"get": {"summary": "Prometheus metrics", "security": SECURED, "responses": {
        "200": {"description": "text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}},
        **AUTHED}}},
    "/v1/modems": {"get": {"summary": "modems and their state", "security": SECURED,
                           "responses": {"200": _json("ModemList", "modems"), **AUTHED}}},
    "/v1/messages": {
        "post": {"summary": "queue an SMS to one number, or to several (one message each, all or none)",
                 "description": "`to` a string: the answer is the message (MessageSummary). `to` an array: one "
                                "message per number, queued in one transaction or not at all (every number counts "
                                "against the rate limits and the queue's bound), and the answer is their Batch.",
                 "security": scoped("send"), "requestBody": _body("NewMessage"),
                 "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                 "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY}}],
                 "responses": {"202": _json_either("accepted and durable", "MessageSummary", "Batch"),
                               "200": _json_either("what was first accepted with this Idempotency-Key",
                                                   "MessageSummary", "Batch"),
                               **COMMON, "429": _problem_response("rate limited (the app's sends or a number's; "
                                                                  "each number of an array counts): nothing was "
                                                                  "queued", retry_after=True),
                               "503": NO_MODEM_OR_STORAGE}},
        "get": {"summary": "list this app's messages, newest first (admin: every app's)",
                "security": scoped("send", "otp"), "parameters": [
            {"name": "status", "in": "query", "schema": {"enum": MESSAGE_STATES}},
            {"name": "limit", "in": "query", "schema": PAGE_LIMIT},
            {"name": "after", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": _json("MessagePage", "a page"), "422": COMMON["422"], **AUTHED}}},
    "/v1/messages/{id}": {
        "parameters": [MESSAGE_ID],
        "get": {"summary": "one of this app's messages", "security": scoped("send", "otp"),
                "responses": {"200": _json("Message", "the message"), "404": _problem_response("no such message"),
                              **AUTHED}},
        "delete": {"summary": "cancel a queued message of this app", "security": scoped("send", "otp"),
                   "responses": {"200": _json("Message", "canceled"), "404": _problem_response("no such message"),
                                 "409": _problem_response("not queued any more"), **AUTHED}}},
    "/v1/messages/{id}/events": {
        "parameters": [MESSAGE_ID],
        "get": {"summary": "one of this app's messages and its history, oldest first", "security": scoped("send", "otp"),
                "responses": {"200": _json("MessageEvents", "the message's moves"),
                              "404": _problem_response("no such message"), **AUTHED}}},
    "/v1/batches/{id}": {
        "parameters": [BATCH_ID],
        "get": {"summary": "the messages one request of this app queued for several numbers",
                "security": scoped("send", "otp"),
                "responses": {"200": _json("BatchView", "the batch"), "404": _problem_response("no such batch"),
                              **AUTHED}}},
    "/v1/inbox": {"get": {"summary": "received SMS, oldest first", "security": scoped("inbox"), "parameters": [
        {"name": "after", "in": "query", "schema": {"type": "string"}},
        {"name": "limit", "in": "query", "schema": PAGE_LIMIT}],
        "responses": {"200": _json("InboxPage", "a page"), **AUTHED}}},
    "/v1/messages/{id}/retry": {
        "parameters": [MESSAGE_ID],
        "post": {"summary": "requeue a failed message of this app (not OTP)", "security": scoped("send"),
                 "responses": {"200": _json("Message", "queued again"), "404": _problem_response("no such message"),
                               "409": _problem_response("not failed, or an OTP"), **AUTHED}}},
    "/v1/otp": {"post": {"summary": "send a one-time passcode", "security": scoped("otp"), "requestBody": _body("NewOtp"),
                         "responses": {"202": _json("Otp", "code made (or the pending one sent again) and its SMS queued"), **COMMON,
                                       "429": _problem_response("rate limited", retry_after=True),
                                       "503": NO_MODEM_OR_STORAGE}}},
    "/v1/otp/unlock": {"post": {"summary": "lift a number's lock after consecutive wrong codes (admin)",
                                "security": scoped("admin"), "requestBody": _body("OtpUnlock"),
                                "responses": {"200": _json("OtpUnlocked", "the locks removed"), **COMMON}}},
    "/v1/otp/verify": {"post": {"summary": "check a code sent for this app", "security": scoped("otp"), "requestBody": _body("OtpCheck"),
                                "responses": {"200": _json("OtpResult", "the outcome"), **COMMON,
                                              "429": _problem_response("rate limited", retry_after=True)}}},
    "/admin": {"get": {"summary": "the admin page (HTML); it holds no data, its script reads /v1/admin/... with an "
                               "admin token the admin enters", "security": [],
                       "responses": {"200": {"description": "the page, its CSS and JS inline",
                                             "content": {"text/html": {"schema": {"type": "string"}}}}}}},
    "/v1/admin/queue": {"get": {"summary": "queue depth, the oldest queued message's age, messages per state (admin)",
                                "security": scoped("admin"),
                                "responses": {"200": _json("AdminQueue", "the queue"), **AUTHED}}},
    "/v1/admin/messages": {"get": {"summary": "every app's latest messages, numbers masked (admin)",
                                   "security": scoped("admin"), "parameters": [ADMIN_LIMIT],
                                   "responses": {"200": _json("AdminMessages", "newest first"), **AUTHED}}},
    "/v1/admin/webhooks": {"get": {"summary": "webhook deliveries pending or failed (admin)",
                                   "security": scoped("admin"), "parameters": [ADMIN_LIMIT],
                                   "responses": {"200": _json("AdminWebhooks", "newest first"), **AUTHED}}},
    "/v1/admin/ports": {"get": {"summary": "serial ports discovery finds, matched or not, identities unmasked, with the "
                                           "config lines for unconfigured modems (admin; runs a discovery pass)",
                                "security": scoped("admin"),
                                "responses": {"200": _json("PortList", "in the order of [discovery] paths"),
                                              **AUTHED}}},
    "/v1/admin/activity": {"get": {"summary": "sends and accepted-to-sent latency per minute over the last hours "
                                              "(admin)", "security": scoped("admin"), "parameters": [
        {"name": "hours", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ACTIVITY_HOURS,
                                                    "default": DEFAULT_ACTIVITY_HOURS}}],
        "responses": {"200": _json("AdminActivity", "per minute"), **AUTHED}}},
}

SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "modemd", "version": __version__,
             "description": "SMS and one-time passcodes from your own SIM. Errors are RFC 9457 problems."},
    "servers": [{"url": "/"}],
    "security": SECURED,
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}, "schemas": SCHEMAS},
    "paths": PATHS,
}
