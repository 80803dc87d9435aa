"""The services: what the daemon does with its modems and its store. They never import each other; the daemon wires
them with callables.

Modules: outbox (claim -> send -> settle, one worker per modem), inbox (inbound SMS and delivery reports: read,
store, delete from the modem, notify), otp (issue and verify one-time passcodes), webhooks (signed, retried POSTs of
stored events) with webhook_payload (the body, event id and signature of one POST).
May import: modem, store, codec, domain, config, log.
"""
