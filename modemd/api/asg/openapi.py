"""The OpenAPI 3.1 description of the android-sms-gateway layer, served at GET /asg/openapi.json: the app's local API
as modemd answers it (docs/asg.md). Like the root document (api/openapi.py) it is the one place the layer's routes
declare their scopes (the middleware reads `security` here), and its bounds come from the constants the handlers
check against. tests/test_asg_openapi.py keeps it in step with the routes and the answers.

The app serves most paths twice, singular and plural (/message and /messages, /webhook and /webhooks); so does
this document, from one description each.
"""

from __future__ import annotations

from ... import __version__
from ...config.model import SCOPES
from ...services.webhooks.asg_payload import ASG_EVENTS
from ..limits import MAX_NUMBER, MAX_RECIPIENTS, MAX_TTL, MIN_TTL
from .shapes import ASG_ID, ASG_STATES, PRIORITY_RANGE

PREFIX = "/asg"
ID = {"type": "string", "pattern": ASG_ID.pattern}
TIMESTAMP = {"type": "string", "format": "date-time"}
ERROR = {"description": "refused; `message` says why",
         "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
ERRORS = {"400": ERROR, "401": ERROR, "403": ERROR, "503": ERROR}


def _json(ref: str, description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def scoped(*scopes: str) -> list[dict]:
    """HTTP Basic (the app's name and one of its tokens) or a bearer token, of an app with any one of `scopes`."""
    unknown = set(scopes) - set(SCOPES)
    if unknown:
        raise ValueError(f"not a scope of config.model.SCOPES: {', '.join(sorted(unknown))}")
    return [{scheme: [scope]} for scope in scopes for scheme in ("basic", "bearer")]


SCHEMAS = {
    "ErrorResponse": {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}},
    "TextMessage": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "minLength": 1}}},
    "Message": {"type": "object", "required": ["phoneNumbers"], "additionalProperties": False, "properties": {
        "id": {**ID, "type": ["string", "null"], "description": "the client's id; generated if not given"},
        "phoneNumbers": {"type": "array", "minItems": 1, "maxItems": MAX_RECIPIENTS,
                         "items": {"type": "string", "maxLength": MAX_NUMBER}},
        "textMessage": {"$ref": "#/components/schemas/TextMessage"},
        "message": {"type": "string", "minLength": 1, "deprecated": True, "description": "textMessage's text"},
        "ttl": {"type": ["integer", "null"], "minimum": MIN_TTL, "maximum": MAX_TTL,
                "description": "seconds until it expires unsent (conflicts with validUntil)"},
        "validUntil": {**TIMESTAMP, "type": ["string", "null"]},
        "priority": {"type": ["integer", "null"], "minimum": PRIORITY_RANGE[0], "maximum": PRIORITY_RANGE[1],
                     "description": "100 or more: modemd's high priority; less: normal"},
        "withDeliveryReport": {"type": ["boolean", "null"], "description": "modemd always asks for a report"},
        "simNumber": {"type": ["integer", "null"],
                      "description": "only the modem with this sim_number ([[modems]]; default: its place) sends it"},
        "isEncrypted": {"type": ["boolean", "null"], "description": "true is refused: modemd does not decrypt"},
        "deviceId": {"type": ["string", "null"], "description": "ignored: modemd is the one device"},
        "dataMessage": {"type": "null", "description": "data SMS are not supported"},
        "mmsMessage": {"type": "null", "description": "MMS are not supported"},
        "scheduleAt": {"type": "null", "description": "scheduling is not supported"}}},
    "RecipientState": {"type": "object", "required": ["phoneNumber", "state"], "properties": {
        "phoneNumber": {"type": "string"}, "state": {"enum": ASG_STATES}, "error": {"type": "string"}}},
    "MessageState": {"type": "object", "required": ["id", "state", "recipients", "isHashed", "isEncrypted"],
                     "properties": {
        "id": {"type": "string"}, "deviceId": {"type": "string"}, "state": {"enum": ASG_STATES},
        "isHashed": {"type": "boolean"}, "isEncrypted": {"type": "boolean"}, "createdAt": TIMESTAMP,
        "recipients": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/RecipientState"}},
        "states": {"type": "object", "propertyNames": {"enum": ASG_STATES}, "additionalProperties": TIMESTAMP}}},
    "Webhook": {"type": "object", "required": ["url", "event"], "properties": {
        "id": {**ID, "type": ["string", "null"]}, "url": {"type": "string", "format": "uri"},
        "event": {"enum": list(ASG_EVENTS)}, "deviceId": {"type": ["string", "null"]},
        "source": {"type": "string"}}},
    "HealthCheck": {"type": "object", "required": ["status"], "properties": {
        "status": {"enum": ["pass", "warn", "fail"]}, "observedValue": {"type": "integer"},
        "observedUnit": {"type": "string"}, "description": {"type": "string"}}},
    "HealthResponse": {"type": "object", "required": ["status", "version", "checks"], "properties": {
        "status": {"enum": ["pass", "warn", "fail"]}, "version": {"type": "string"},
        "checks": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/HealthCheck"}}}},
}

MESSAGE_ID = {"name": "id", "in": "path", "required": True, "schema": ID}
SEND = {"summary": "queue an SMS to each of phoneNumbers (one modemd batch)", "security": scoped("send"),
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Message"}}}},
        "parameters": [{"name": "skipPhoneValidation", "in": "query", "schema": {"type": "boolean"},
                        "description": "ignored: modemd checks every number"},
                       {"name": "deviceActiveWithin", "in": "query", "schema": {"type": "integer"},
                        "description": "ignored"}],
        "responses": {"202": _json("MessageState", "queued"), **ERRORS,
                      "409": {**ERROR, "description": "a message with this id exists"},
                      "413": ERROR, "415": ERROR, "429": {**ERROR, "description": "rate limited; see Retry-After"}}}
STATE = {"summary": "a message's state, per recipient", "security": scoped("send"), "parameters": [MESSAGE_ID],
         "responses": {"200": _json("MessageState", "its state"), "404": ERROR, **ERRORS}}
WEBHOOKS = {
    "get": {"summary": "this app's registered webhooks", "security": scoped("send", "inbox"),
            "responses": {"200": {"description": "the list", "content": {"application/json": {"schema": {
                "type": "array", "items": {"$ref": "#/components/schemas/Webhook"}}}}}, **ERRORS}},
    "post": {"summary": "register a webhook, or replace this app's of the same id (sms:received needs the inbox "
                        "scope, the others send)", "security": scoped("send", "inbox"),
             "requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"$ref": "#/components/schemas/Webhook"}}}},
             "responses": {"201": _json("Webhook", "registered"), **ERRORS, "415": ERROR}}}
WEBHOOK = {"delete": {"summary": "remove one of this app's webhooks (an unknown id too: 204)",
                      "security": scoped("send", "inbox"),
                      "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                      "responses": {"204": {"description": "gone"}, **ERRORS}}}

PATHS = {
    "/health": {"get": {"summary": "whether a message accepted now can be sent", "security": [], "responses": {
        "200": _json("HealthResponse", "pass or warn"), "503": _json("HealthResponse", "fail: no modem can send")}}},
    "/openapi.json": {"get": {"summary": "this document", "security": [], "responses": {
        "200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
    **{path: {"post": SEND} for path in ("/message", "/messages")},
    **{path: {"get": STATE} for path in ("/message/{id}", "/messages/{id}")},
    **{path: WEBHOOKS for path in ("/webhook", "/webhooks")},
    **{path: WEBHOOK for path in ("/webhook/{id}", "/webhooks/{id}")},
}

SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "modemd: SMS Gateway for Android's local API", "version": __version__,
             "description": "android-sms-gateway's local server API, answered by modemd (docs/asg.md). Errors are "
                            "{\"message\": ...}."},
    "servers": [{"url": PREFIX}],
    "security": scoped("send"),
    "components": {"securitySchemes": {"basic": {"type": "http", "scheme": "basic",
                                                 "description": "user: the app's name; password: one of its tokens"},
                                       "bearer": {"type": "http", "scheme": "bearer"}},
                   "schemas": SCHEMAS},
    "paths": PATHS,
}
