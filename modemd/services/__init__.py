"""The services: what the daemon does with its modems and its store. A service is a module or a package here; they
never import each other, and the daemon wires them with callables.

Services: outbox/ (claim -> send -> settle, one worker per modem), inbox (inbound SMS and delivery reports from the
modems' events: read, store, delete from the modem, notify), otp (issue and verify one-time passcodes), webhooks/
(signed, retried POSTs of stored events).
May import: modem, store, codec, domain, config, log.
"""
