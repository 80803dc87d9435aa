"""CLI commands that talk to the running daemon through its API: status, send, otp, queue, inbox.

Exit codes (sysexits.h): 0 ok, 1 refused (4xx, an OTP that is not approved), 69 daemon unreachable (or, for
`status`, no modem ready), 75 try later (429/503), 77 wrong or missing token, 78 bad config or token file.
`--json` prints the API's JSON for scripts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .client import ApiClient, ApiResponse, ApiUnavailable, resolve
from .health_lines import health_lines

EXIT_OK, EXIT_REFUSED, EXIT_UNAVAILABLE, EXIT_TEMPFAIL, EXIT_NOPERM, EXIT_CONFIG = 0, 1, 69, 75, 77, 78


def add_commands(sub) -> None:
    p = _command(sub, "status", "modems, queue depth and last errors of the running daemon", cmd_status)
    p.add_argument("--watch", action="store_true", help="show it again every --interval seconds, until Ctrl-C")
    p.add_argument("--interval", type=float, default=2.0, metavar="SECONDS")
    p.add_argument("--count", type=int, metavar="N", help="with --watch: stop after N views")
    p = _command(sub, "send", "queue an SMS through the running daemon (to several numbers: one message each, "
                              "queued all or none)", cmd_send)
    p.add_argument("to", nargs="+", metavar="TO")
    p.add_argument("text", help="'-' reads it from standard input")
    p.add_argument("--priority", choices=["normal", "high"], default="normal")
    p.add_argument("--ttl", type=int, metavar="SECONDS")
    p.add_argument("--wait", action="store_true", help="wait until every message is sent or has failed (exit 0 "
                                                      "only if all were sent)")
    p.add_argument("--timeout", type=float, default=WAIT_TIMEOUT, metavar="SECONDS",
                   help=f"how long --wait waits (default {WAIT_TIMEOUT:.0f}; then exit 75)")
    otp = sub.add_parser("otp", help="send or verify a one-time passcode").add_subparsers(dest="otp_cmd",
                                                                                         required=True)
    p = _command(otp, "send", "send a code to a number", cmd_otp_send)
    p.add_argument("to")
    p.add_argument("--ttl", type=int, metavar="SECONDS")
    p.add_argument("--length", type=int)
    p = _command(otp, "verify", "check a code (exit 0 only when approved)", cmd_otp_verify)
    p.add_argument("to")
    p.add_argument("code")
    p = _command(otp, "unlock", "lift a number's lock after consecutive wrong codes (admin)", cmd_otp_unlock)
    p.add_argument("to")
    p.add_argument("--app", help="only this app's lock (default: every app's)")
    queue = sub.add_parser("queue", help="list, show, retry or cancel queued messages").add_subparsers(dest="queue_cmd",
                                                                                                required=True)
    p = _command(queue, "list", "messages, newest first", cmd_queue_list)
    p.add_argument("--status", choices=["queued", "sending", "sent", "delivered", "failed", "expired", "canceled"])
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--after", metavar="ID", help="the page after this message (the last line names it)")
    p = _command(queue, "show", "one message and its history", cmd_queue_show)
    p.add_argument("id")
    p = _command(queue, "retry", "requeue a failed message", cmd_queue_retry)
    p.add_argument("id")
    p = _command(queue, "cancel", "cancel a queued message", cmd_queue_cancel)
    p.add_argument("id")
    from .modems import add_modems_command
    add_modems_command(sub, _command, _finish)
    p = _command(sub, "inbox", "received SMS, oldest first", cmd_inbox)
    p.add_argument("--after", metavar="ID", help="only what came after this message id")
    p.add_argument("--limit", type=int, default=50)


def _command(sub, name: str, help_text: str, func) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text)
    p.add_argument("--url", help="daemon API: http://HOST:PORT or unix:/path/to.sock (default from the config)")
    p.add_argument("--token-file", type=Path, help="file with the API token (default $MODEMD_TOKEN, config, state)")
    p.add_argument("--config", type=Path, metavar="FILE", help="config file to find the address and token in")
    p.add_argument("--json", action="store_true", help="print the API's JSON")
    p.set_defaults(func=lambda args: _run(args, func))
    return p


def _run(args, func) -> int:
    from ..config.loader import ConfigError, load_config
    notes = []
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        if args.config is not None or "cannot read it" not in str(exc):
            print(f"modemd: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        # The service's config, readable by root and group modemd only: go on with the defaults (the admin
        # socket, the default address); say so if that does not reach the daemon either.
        config, notes = None, [f"{exc}"]
    try:
        token = args.token_file.read_text(encoding="utf-8").strip() if args.token_file else None
    except OSError as exc:
        print(f"modemd: cannot read the token file {args.token_file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_CONFIG
    client = resolve(args.url, token, config)
    client.tried[:0] = notes
    try:
        return func(args, client)
    except ApiUnavailable as exc:
        print(f"modemd: {exc} (tried: {'; '.join(client.tried)})" if client.tried else f"modemd: {exc}",
              file=sys.stderr)
        return EXIT_UNAVAILABLE


def _finish(args, response: ApiResponse, human) -> int:
    if not response.ok:
        how = f" [{response.via}]" if response.status in (401, 403) else ""
        print(f"modemd: {response.problem()}{how}", file=sys.stderr)
        return {401: EXIT_NOPERM, 403: EXIT_NOPERM, 429: EXIT_TEMPFAIL,
                503: EXIT_TEMPFAIL}.get(response.status, EXIT_REFUSED)
    print(json.dumps(response.body, ensure_ascii=False, indent=2) if args.json else human(response.body))
    return EXIT_OK


def cmd_status(args, client: ApiClient) -> int:
    """Exit 0 only when a modem can send: a script or a monitoring check reads "is SMS working here". --watch: the
    same view again and again (the screen cleared first on a terminal), until Ctrl-C or --count views."""
    if not args.watch:
        return _status_once(args, client)
    shown = 0
    try:
        while True:
            if sys.stdout.isatty():
                print("\x1b[H\x1b[J", end="")
            print(time.strftime("%Y-%m-%d %H:%M:%S"), f"(every {args.interval:g} s, Ctrl-C to stop)")
            code = _status_once(args, client)
            shown += 1
            if args.count is not None and shown >= args.count:
                return code
            sys.stdout.flush()
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return EXIT_OK


def _status_once(args, client: ApiClient) -> int:
    response = client.call("GET", "/v1/modems")
    code = _finish(args, response, _format_status)
    if code == EXIT_OK and not any(m["state"] == "ready" for m in response.body["data"]):
        print("modemd: no modem is ready to send (see the states above and `journalctl -u modemd`)",
              file=sys.stderr)
        return EXIT_UNAVAILABLE
    return code


def _format_status(body: dict) -> str:
    modems = body["data"]
    queued = modems[0]["queue_depth"] if modems else 0
    hosts = list(dict.fromkeys(m.get("host") for m in modems if m.get("host_renewed_at")))
    fleet = f" on {len(hosts)} host(s)" if hosts else ""
    lines = [f"{len(modems)} modem(s){fleet}, {queued} message(s) queued"]
    for m in modems:
        signal = f"{m['signal_dbm']} dBm" if m["signal_dbm"] is not None else "signal unknown"
        host = f"  {m['host']} (lease renewed {m['host_renewed_at']})" if m.get("host_renewed_at") else ""
        lines.append(f"  {m['name']:<10} {m['state']:<15} {m['operator'] or '-':<16} {signal:<14} {m['port']}{host}")
        if m.get("last_error"):
            lines.append(f"  {'':<10} last error: {m['last_error']}")
        lines.extend(health_lines(m))
    return "\n".join(lines)


def cmd_send(args, client: ApiClient) -> int:
    """One number: the API's one-number form, and one line. Several: its array form (one batch), a line each.
    --wait: then the end of each, polled (exit 0 only if every one was sent; 1 if one failed, expired or was
    canceled; 75 if the timeout came first)."""
    text = sys.stdin.read() if args.text == "-" else args.text
    several = len(args.to) > 1
    body = {"to": args.to if several else args.to[0], "text": text, "priority": args.priority}
    if args.ttl:
        body["ttl"] = args.ttl
    response = client.call("POST", "/v1/messages", body)
    code = _finish(args, response, _format_batch if several else _format_sent)
    if code != EXIT_OK or not args.wait:
        return code
    ids = [m["id"] for m in response.body["messages"]] if several else [response.body["id"]]
    return _wait_for_end(args, client, ids)


WAIT_TIMEOUT = 300.0        # seconds `send --wait` waits by default: a queued message may wait for a modem
WAIT_POLL = 0.5
ENDED = {"sent", "delivered", "failed", "expired", "canceled"}


def _wait_for_end(args, client: ApiClient, ids: list[str]) -> int:
    deadline = time.monotonic() + args.timeout
    pending, ended = list(ids), {}
    while pending:
        for message_id in list(pending):
            response = client.call("GET", f"/v1/messages/{message_id}")
            if not response.ok:
                return _finish(args, response, str)
            if response.body["status"] in ENDED:
                ended[message_id] = response.body
                pending.remove(message_id)
                print(json.dumps(response.body, ensure_ascii=False) if args.json else _format_end(response.body))
        if pending and time.monotonic() >= deadline:
            print(f"modemd: {len(pending)} message(s) not sent after {args.timeout:.0f} s: "
                  + ", ".join(pending) + " (still in the queue: `modemd queue show ID`)", file=sys.stderr)
            return EXIT_TEMPFAIL
        if pending:
            time.sleep(WAIT_POLL)
    return EXIT_OK if all(m["status"] in ("sent", "delivered") for m in ended.values()) else EXIT_REFUSED


def _format_end(message: dict) -> str:
    error = f": {message['error']['code']}: {message['error']['message']}" if message.get("error") else ""
    return f"{message['id']} {message['status']}{error}"


def _format_sent(message: dict) -> str:
    return f"{message['id']} {message['status']} ({message['parts']} part(s))"


def _format_batch(body: dict) -> str:
    return "\n".join([f"batch {body['batch_id']}"] + [f"{_format_sent(m)} to {m['to']}" for m in body["messages"]])


def cmd_otp_send(args, client: ApiClient) -> int:
    body = {"to": args.to, **{k: v for k, v in (("ttl", args.ttl), ("length", args.length)) if v}}
    return _finish(args, client.call("POST", "/v1/otp", body), lambda b: f"{b['id']} pending until {b['expires_at']}")


def cmd_otp_verify(args, client: ApiClient) -> int:
    response = client.call("POST", "/v1/otp/verify", {"to": args.to, "code": args.code})
    code = _finish(args, response, lambda b: b["status"] + (f" ({b['attempts_left']} attempts left)"
                                                            if "attempts_left" in b else ""))
    return code if code != EXIT_OK or response.body.get("valid") else EXIT_REFUSED


def cmd_otp_unlock(args, client: ApiClient) -> int:
    body = {"to": args.to, **({"app": args.app} if args.app else {})}
    return _finish(args, client.call("POST", "/v1/otp/unlock", body),
                   lambda b: f"{b['to']}: {b['unlocked']} lock(s) lifted" if b["unlocked"] else
                   f"{b['to']}: was not locked")


def cmd_queue_list(args, client: ApiClient) -> int:
    query = f"?limit={args.limit}" + (f"&status={args.status}" if args.status else "") + \
        (f"&after={args.after}" if args.after else "")
    return _finish(args, client.call("GET", "/v1/messages" + query), _format_messages)


def _format_messages(body: dict) -> str:
    rows = [f"{m['id']}  {m['status']:<9} {m['to']:<16} parts={m['parts']} attempts={m['attempts']}"
            + (f"  {m['error']['code']}: {m['error']['message']}" if m.get("error") else "") for m in body["data"]]
    if body.get("next_after"):
        rows.append(f"(more: --after {body['next_after']})")
    return "\n".join(rows) if rows else "(no messages)"


def cmd_queue_show(args, client: ApiClient) -> int:
    message = client.call("GET", f"/v1/messages/{args.id}")
    if not message.ok:
        return _finish(args, message, str)
    history = client.call("GET", f"/v1/messages/{args.id}/events")
    if not history.ok:
        return _finish(args, history, str)
    shown = ApiResponse(history.status, {**message.body, "events": history.body["events"]}, history.via)
    return _finish(args, shown, _format_shown)


def _format_shown(m: dict) -> str:
    fields = [("to", m["to"]), ("status", m["status"]), ("parts", m["parts"]), ("priority", m["priority"]),
              ("attempts", m["attempts"]), ("route", _route_text(m.get("route"))), ("waiting", m.get("waiting")),
              ("modem", m.get("modem")), ("created", m["created_at"]),
              ("sent", m.get("sent_at")), ("delivered", m.get("delivered_at")), ("expires", m.get("expires_at")),
              ("batch", m.get("batch_id")), ("possible duplicate", m.get("possible_duplicate") or None)]
    if m.get("error"):
        fields.append(("error", f"{m['error']['code']}: {m['error']['message']}"))
    lines = [m["id"]] + [f"  {name:<19} {value}" for name, value in fields if value is not None]
    lines.append("  history")
    lines += [f"    {e['at']}  {e['from'] or '-':<9} -> {e['to']:<9} {e['reason']}" for e in m["events"]]
    return "\n".join(lines)


def _route_text(route: dict | None) -> str | None:
    """{"modem": "de1"} -> "modem de1"; None (any modem) is left out."""
    return None if not route else " ".join(next(iter(route.items())))


def cmd_queue_retry(args, client: ApiClient) -> int:
    return _finish(args, client.call("POST", f"/v1/messages/{args.id}/retry"), lambda b: f"{b['id']} {b['status']}")


def cmd_queue_cancel(args, client: ApiClient) -> int:
    return _finish(args, client.call("DELETE", f"/v1/messages/{args.id}"), lambda b: f"{b['id']} {b['status']}")


def cmd_inbox(args, client: ApiClient) -> int:
    query = f"?limit={args.limit}" + (f"&after={args.after}" if args.after else "")
    return _finish(args, client.call("GET", "/v1/inbox" + query), _format_inbox)


def _format_inbox(body: dict) -> str:
    rows = [f"{m['id']}  {m['received_at']}  from {m['from']}{'' if m['complete'] else ' (incomplete)'}\n"
            f"  {m['text']}" for m in body["data"]]
    return "\n".join(rows) if rows else "(no messages)"
