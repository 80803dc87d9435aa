"""A simulated phone running SMS Gateway for Android (capcom6/android-sms-gateway) in local-server mode.

    phone = AsgPhone(handset_path="/tmp/h.jsonl", signing_key="k"); server = PhoneServer(phone, host, port, u, p)
    await phone.start(); await server.start(); ...; await server.stop(); await phone.stop()

Modules: state (the message table, the app's state rule), request (a POST /messages body, the app's checks),
faults (send results, no service, lost webhooks, delivery reports), webhooks (registrations, signed retried
deliveries), health (GET /health), phone (the sending queue, radio, reports, kill/restart), server (the HTTP API),
control (control-socket requests), serve (`modemd simulate --device asg-phone`). Imports: simulator (handset,
control socket), codec (part planning); nothing of the daemon.
"""
from .faults import SEND_RESULTS, PhoneFaults, send_error_text
from .phone import AsgPhone
from .server import PhoneServer, build_app
from .webhooks import sign

__all__ = ["AsgPhone", "PhoneServer", "PhoneFaults", "SEND_RESULTS", "build_app", "send_error_text", "sign"]
