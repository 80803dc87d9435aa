"""Prometheus metrics (prometheus-client), one registry per daemon so tests can run several.

Labels never carry a phone number, a code or a token: only kinds, states, reasons (error codes), modem names and
the hosts they are on (on a fleet of hosts, [database] node: two hosts may both have a "modem0").
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..domain.sms import OutboundSms, State

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Accept-to-sent latency buckets: an idle modem sends in 1-5 s, a congested cell or a backoff takes minutes.
LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.accepted = Counter("modemd_messages_accepted", "Messages accepted into the queue", ["kind"], registry=r)
        self.sent = Counter("modemd_messages_sent", "Messages handed to the network", ["modem"], registry=r)
        self.failed = Counter("modemd_messages_failed", "Messages that ended failed", ["reason"], registry=r)
        self.expired = Counter("modemd_messages_expired", "Messages whose deadline passed unsent", registry=r)
        self.queue = Gauge("modemd_queue_messages", "Messages in the store by state", ["state"], registry=r)
        self.latency = Histogram("modemd_send_latency_seconds", "From accepted to sent", buckets=LATENCY_BUCKETS,
                                 registry=r)
        self.modem_up = Gauge("modemd_modem_ready", "1 if the modem can send", ["host", "modem"], registry=r)
        self.signal = Gauge("modemd_modem_signal_dbm", "Received signal strength", ["host", "modem"], registry=r)
        # A SIM's budgets, quarantine and today's counters (docs/health.md), read from /v1/modems' view at scrape time.
        self.budget_used = Gauge("modemd_modem_budget_used_parts", "SMS parts sent this clock period (hour, day, "
                                 "month) against the SIM's budget", ["host", "modem", "period"], registry=r)
        self.budget_limit = Gauge("modemd_modem_budget_limit_parts", "The SIM's budget of SMS parts per clock period",
                                  ["host", "modem", "period"], registry=r)
        self.quarantined = Gauge("modemd_modem_quarantined", "1 while the modem is quarantined after failed sends",
                                 ["host", "modem"], registry=r)
        self.today = Gauge("modemd_modem_messages_today", "The modem's messages since local midnight by outcome "
                           "(sent, failed, possible_duplicate, unknown)", ["host", "modem", "outcome"], registry=r)
        self.modem_queue = Gauge("modemd_modem_queue_messages", "Queued messages this modem may take (unrouted, or "
                                 "routed to it or its groups)", ["host", "modem"], registry=r)
        self.modem_oldest = Gauge("modemd_modem_oldest_queued_age_seconds", "How long the oldest queued message this "
                                  "modem may take has waited (0: none)", ["host", "modem"], registry=r)
        self.renewed = Gauge("modemd_host_lease_renewed_timestamp_seconds",
                             "When the host last renewed its lease on the shared database", ["host"], registry=r)
        self.verify = Counter("modemd_otp_verifications", "OTP verify outcomes", ["status"], registry=r)
        self.received = Counter("modemd_messages_received", "Inbound SMS stored", registry=r)
        self.reports = Counter("modemd_delivery_reports", "Delivery reports that settled a message", ["state"],
                               registry=r)

    def message_accepted(self, kind: str) -> None:
        self.accepted.labels(kind=kind).inc()

    def message_changed(self, sms: OutboundSms, event: str) -> None:
        if event == "sent":
            self.sent.labels(modem=sms.modem or "").inc()
            if sms.sent_at:
                self.latency.observe(max(0.0, sms.sent_at - sms.created_at))
        elif event == "failed":
            self.failed.labels(reason=(sms.error_code or "unknown")).inc()
        elif event == "expired":
            self.expired.inc()

    def message_received(self) -> None:
        self.received.inc()

    def report_applied(self, state: str) -> None:
        self.reports.labels(state=state).inc()

    def otp_verified(self, status: str) -> None:
        self.verify.labels(status=status).inc()

    def render(self, counts: dict[str, int], modems: list[dict]) -> bytes:
        """Gauges are set from the current state at scrape time, then everything is rendered."""
        for state in State:
            self.queue.labels(state=state.value).set(counts.get(state.value, 0))
        for modem in modems:
            labels = {"host": modem.get("host") or "", "modem": modem["name"]}
            self.modem_up.labels(**labels).set(1 if modem["state"] == "ready" else 0)
            if modem.get("signal_dbm") is not None:
                self.signal.labels(**labels).set(modem["signal_dbm"])
            if modem.get("host_renewed_at") is not None:
                self.renewed.labels(host=labels["host"]).set(modem["host_renewed_at"])
            self._modem_health(labels, modem.get("health"), modem.get("counts") or {})
            if modem.get("queue"):
                self.modem_queue.labels(**labels).set(modem["queue"]["depth"])
                self.modem_oldest.labels(**labels).set(modem["queue"]["oldest_age_s"] or 0)
        return generate_latest(self.registry)

    def _modem_health(self, labels: dict, health: dict | None, counts: dict) -> None:
        for outcome, n in counts.items():
            self.today.labels(**labels, outcome=outcome.removesuffix("_today")).set(n)
        if health is None:          # another host's modem, on a modemd without health
            return
        self.quarantined.labels(**labels).set(1 if health.get("quarantine") else 0)
        for period, usage in (health.get("budget") or {}).items():
            if usage is not None:
                self.budget_used.labels(**labels, period=period).set(usage["used"])
                self.budget_limit.labels(**labels, period=period).set(usage["limit"])
