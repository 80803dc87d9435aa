"""`modemd simulate --device asg-phone`: the phone as a process, until SIGINT or SIGTERM."""
from __future__ import annotations

import secrets

from ..control import ControlServer
from ..stopping import until_stopped
from .control import handle_request
from .phone import AsgPhone
from .server import PhoneServer
from .state import nanoid

DEFAULT_LISTEN = "127.0.0.1:8080"      # the app's default local-server port


def parse_listen(value: str | None) -> tuple[str, int]:
    host, _, port = (value or DEFAULT_LISTEN).rpartition(":")
    return host or "127.0.0.1", int(port)


async def serve(opts: dict) -> None:
    host, port = parse_listen(opts.get("listen"))
    username = opts.get("username") or "sms"
    password = opts.get("password") or secrets.token_urlsafe(9)     # the app also makes one up at first start
    signing_key = opts.get("signing_key") or nanoid(8)              # WebhooksSettings.signingKey: 8-char nanoid
    phone = AsgPhone(handset_path=opts["handset"], signing_key=signing_key,
                     retry_delay=float(opts.get("webhook_retry_delay") or 5.0),
                     ping_interval=float(opts.get("ping_interval") or 0))
    server = PhoneServer(phone, host, port, username, password)
    await phone.start()
    await server.start()
    control = ControlServer(phone, opts["control"], handle_request) if opts.get("control") else None
    if control:
        await control.start()
    _announce(server, username, password, signing_key, opts)
    try:
        await until_stopped()
    finally:
        if control:
            await control.stop()
        await server.stop()
        await phone.stop()


def _announce(server: PhoneServer, username: str, password: str, signing_key: str, opts: dict) -> None:
    print(f"simulated phone (SMS Gateway for Android, local server) on http://{server.host}:{server.port}",
          flush=True)
    print(f"basic auth: {username} / {password}; webhook signing key: {signing_key}", flush=True)
    print(f"SMS it sends are recorded in {opts['handset']}", flush=True)
    if opts.get("control"):
        print(f"control socket: {opts['control']} (JSON lines, e.g. {{\"op\": \"state\"}})", flush=True)
