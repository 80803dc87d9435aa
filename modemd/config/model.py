"""The config objects (frozen dataclasses) and the schema of the file: every key each table may hold, the
allowed values, what a reload may change. No parsing here: sections and the modules behind it fill these from the
TOML.

A table's keys are the fields of the dataclass it is read into (KEYS), and a setting's default is that field's
default: adding a setting is one field here, one line reading it (its range, its checks) and its entry in
modemd.example.toml; tests/test_config.py fails until all three are there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..domain.policy import OtpSettings
from ..domain.policy import Pacing, RetryPolicy, SimPolicy, SimPolicy

DEFAULT_PATH = Path("/etc/modemd/modemd.toml")
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
LOG_LEVELS = ("trace", "debug", "info", "warning", "error")
EVENTS = ("sms:received", "sms:sent", "sms:delivered", "sms:failed", "sms:expired")
MIN_SECRET = 16   # bytes; a shorter HMAC key or bearer token is guessable
# How a webhook POST may be signed (a [[webhooks]] table's `signatures`; services/webhooks/signing.py has one
# function per name): "modemd" is X-Modemd-Signature (Stripe's layout), "standard" the webhook-* headers of the
# Standard Webhooks spec. Both by default: receivers written against X-Modemd-Signature keep working, and new ones
# can use the spec's libraries; an extra header costs a receiver that ignores it nothing.
# "asg" is android-sms-gateway's X-Signature and X-Timestamp, what webhooks registered through /asg carry (and a
# configured webhook may too, for a receiver written for that app).
SIGNATURE_SCHEMES = ("modemd", "standard", "asg")
DEFAULT_SIGNATURES = ("modemd", "standard")
# What an app's token may do (an [[apps]] table's `scopes`): send plain SMS, send and verify OTP codes, read the
# inbox; admin sees and acts on every app's messages and verifications.
SCOPES = ("send", "otp", "inbox", "admin")
DEFAULT_SCOPES = frozenset({"send", "otp"})
# The app of the tokens of [auth], $MODEMD_TOKEN, the credential and the generated token: the single-token setup of
# before apps existed, which could do everything, so it keeps every scope.
DEFAULT_APP = "default"
# The app of what root and group modemd do through the admin socket (the `modemd` CLI).
LOCAL_APP = "local"
RESERVED_APPS = (DEFAULT_APP, LOCAL_APP)
MAX_APP_NAME = 64   # characters of an [[apps]] name; POST /v1/otp/unlock takes one (api/limits.py)
# The range of [otp] length and ttl, which a POST /v1/otp may also ask for per code (api/limits.py): a code to
# verify has as many digits as one may be issued with.
OTP_LENGTHS = (4, 10)     # digits
OTP_TTLS = (60, 3600)     # seconds
# The defaults of a [[modems]] table, named for the command line too (`--baud`). A modem made without a config file
# (`modemd sendsms`, tests) gets them through the ModemConfig its Modem and ModemSupervisor take; only AtChannel
# (at/, which may not import config) keeps its own 115200.
DEFAULT_BAUD = 115200     # nominal on USB modems (any value works); the usual factory speed of RS-232 ones
# Seconds a bring-up waits for +CREG/+CEREG to say registered (TS 27.007 7.2, 10.1.22) before it reports the modem
# not registered: a modem just powered up takes tens of seconds to find and attach to a network.
DEFAULT_REGISTRATION_TIMEOUT = 60.0

# What a SIGHUP may change in a running daemon; everything else (the modems, where it listens, where it keeps
# state) needs a restart, because changing it means closing ports or sockets the queue is working through.
RESTART_KEYS = ("simulate", "server.listen", "server.unix_socket", "server.state_dir", "server.max_connections",
                "server.idle_timeout", "modems", "database", "discovery", "routes")
# Seconds a host's claim on a message (and its place in the fleet) lasts without renewal; renewed every third of it.
DEFAULT_LEASE = 30.0


@dataclass(frozen=True)
class ServerConfig:
    listen_host: str = "127.0.0.1"
    listen_port: int = 8765
    unix_socket: Path | None = None
    state_dir: Path | None = None        # None: the daemon's default ($STATE_DIRECTORY, else the XDG state dir)
    default_region: str | None = None    # None: numbers must be international (+...)
    log_level: str = "info"
    max_connections: int = 1000          # HTTP connections at once, all sockets together (api/connections.py)
    idle_timeout: float = 15.0           # seconds an idle keep-alive connection stays open

    @property
    def listen(self) -> str:
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return f"{host}:{self.listen_port}"


@dataclass(frozen=True)
class AuthConfig:
    tokens: tuple[str, ...] = field(default=(), repr=False)   # inline ones and those read from token_files
    token_files: tuple[Path, ...] = ()


@dataclass(frozen=True)
class AppConfig:
    """One local application: its tokens, what they may do, and (later) its own limits."""
    name: str
    tokens: tuple[str, ...] = field(default=(), repr=False)
    token_files: tuple[Path, ...] = ()
    scopes: frozenset[str] = DEFAULT_SCOPES
    sends_per_hour: int | None = None    # SMS and OTP together; None: [limits] sends_per_hour
    sends_per_day: int | None = None
    # The HMAC key of the webhooks the app registers through /asg (android-sms-gateway signs with its "signing key",
    # used as its UTF-8 bytes); None: the app cannot register webhooks there.
    asg_signing_key: bytes | None = field(default=None, repr=False)
    asg_signing_key_file: Path | None = None
    twilio_service_sid: str | None = None   # VA + 32 hex: the app's Service SID under /twilio (config/twilio.py)
    twilio_custom_code: bool = False        # may it choose its codes there (Twilio's CustomCode)?


@dataclass(frozen=True)
class LimitsConfig:
    """The safeguards of every send path (plain SMS and OTP alike), checked in the transaction that accepts."""
    allowed_countries: frozenset[str] = frozenset()   # empty = every country
    sms_per_number: int = 20              # plain SMS to one number per sms_per_number_window
    sms_per_number_window: float = 3600.0
    sends_per_hour: int = 1000            # per app, SMS and OTP together, unless its [[apps]] table says otherwise
    sends_per_day: int = 10000
    max_queued: int = 100000              # messages waiting; past it a send answers 503 with Retry-After
    otp_reserve: float = 0.1              # the share of max_queued only OTP may fill: a bulk backlog cannot starve codes

    @property
    def sms_bound(self) -> int:
        """Plain SMS are refused once this many messages wait; codes may fill the rest, up to max_queued."""
        return max(1, int(self.max_queued * (1 - self.otp_reserve)))

    @property
    def otp_bound(self) -> int:
        return self.max_queued


@dataclass(frozen=True)
class ModemConfig:
    """One [[modems]] table: an AT modem on a serial `port`, or a phone running SMS Gateway for Android whose local
    server is at `url` (then port is ""). Exactly one of the two; config/phones.py reads a phone's keys."""
    name: str
    port: str
    baud: int = DEFAULT_BAUD
    rtscts: bool = False
    pin: str | None = field(default=None, repr=False)
    pin_file: Path | None = None
    smsc: str | None = None
    per_minute: float = Pacing.per_minute    # 0: no limit
    registration_timeout: float = DEFAULT_REGISTRATION_TIMEOUT
    url: str | None = None                   # a phone's local server, e.g. "http://127.0.0.1:8080"
    username: str | None = None              # its Basic-auth user (the app's "Local server" settings)
    password: str | None = field(default=None, repr=False)
    password_file: Path | None = None
    adb_serial: str | None = None            # modemd runs adb forward/reverse for this phone (modem/adb.py)
    # Who the modem is (config/identity.py): an AT modem may be named by these instead of (or besides) its port;
    # discovery (modem/discovery.py) then finds its port among [discovery] paths, and follows it when it moves.
    imei: str | None = None                  # the device (AT+CGSN)
    iccid: str | None = None                 # the SIM card (AT+CCID and vendors' variants)
    imsi: str | None = None                  # the subscription (AT+CIMI)
    # Routing (config/routing.py, domain/routing.py): the groups a send or a [[routes]] rule may name, and the
    # number android-sms-gateway's simNumber picks this modem by (None: its place among the [[modems]], from 1;
    # config.modems.sim_numbers).
    groups: tuple[str, ...] = ()
    sim_number: int | None = None
    # The SIM's budget (sms_per_hour/day/month) and quarantine (quarantine_after/time/max): the very object the
    # outbox applies (domain.policy.SimPolicy, services/outbox/health.py), its fields written flat in the table.
    sim: SimPolicy = SimPolicy()

    @property
    def pacing(self) -> Pacing:
        return Pacing(self.per_minute)

    @property
    def identity(self) -> dict[str, str]:
        """The identity keys this table gives ({"imei": ..., "iccid": ...}); empty for a modem named by port only."""
        return {k: v for k, v in (("imei", self.imei), ("iccid", self.iccid), ("imsi", self.imsi)) if v}

    @property
    def is_phone(self) -> bool:
        return self.url is not None

    @property
    def address(self) -> str:
        """Where the modem is, for logs and /v1/modems: the serial port, the phone's URL, or (a modem named by
        identity before discovery found it) what it is looked for by."""
        return self.url or self.port or " ".join(f"{k}:{v}" for k, v in self.identity.items())


# Where discovery looks for modems by default: udev's stable links, then the kernel's names of USB serial ports
# (usb-serial drivers: ttyUSB, CDC ACM: ttyACM). A by-id link and the ttyUSB it points to are one port.
DEFAULT_DISCOVERY_PATHS = ("/dev/serial/by-id/*", "/dev/ttyUSB*", "/dev/ttyACM*")


@dataclass(frozen=True)
class DiscoveryConfig:
    """[discovery]: the ports searched for the modems named by identity (a contract: checks outside this repo write
    `paths`), and how long a probe of one port waits for an answer."""
    paths: tuple[str, ...] = DEFAULT_DISCOVERY_PATHS
    probe_timeout: float = 1.0


@dataclass(frozen=True)
class RouteConfig:
    """One [[routes]] rule: a message that matches every key given (an empty key matches everything) goes to
    `modem` or to one of `group`'s modems. Rules are tried in order; the first that matches wins; a message no rule
    matches may go through any modem."""
    modem: str | None = None
    group: str | None = None
    prefixes: tuple[str, ...] = ()        # "+49", "+4915": the number starts with one
    countries: frozenset[str] = frozenset()   # ISO 3166 regions of the number ("DE")
    apps: frozenset[str] = frozenset()    # the app that sent it
    kinds: frozenset[str] = frozenset()   # "sms", "otp"
    priorities: frozenset[str] = frozenset()   # "high", "normal"


@dataclass(frozen=True)
class QueueConfig:
    retry: RetryPolicy = RetryPolicy()
    keep_sent_text: bool = True          # OTP texts are purged when sent whatever this says
    retention: float = 7 * 24 * 3600.0   # seconds a finished message keeps its text; 0 = erase when it ends


@dataclass(frozen=True)
class RetentionConfig:
    """How long finished records keep their phone numbers, and how long they are kept at all
    (store/sqlite/retention.py)."""
    numbers: float = 30 * 86400.0
    records: float = 90 * 86400.0


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    events: frozenset[str]
    secret: bytes = field(repr=False)   # the HMAC key: a whsec_ secret's base64-decoded bytes, else the secret's own
    secret_file: Path | None = None
    signatures: tuple[str, ...] = DEFAULT_SIGNATURES   # SIGNATURE_SCHEMES names, each adding its headers to a POST
    full_numbers: bool = False
    timeout: float = 10.0
    app: str | None = None        # only this app's message events (and received SMS if it has the inbox scope)
    # Not in the file: a webhook an app registered through /asg has android-sms-gateway's body ("asg") and its id.
    payload: str = "modemd"
    hook_id: str | None = None


@dataclass(frozen=True)
class DatabaseConfig:
    """Where the store is: None url = SQLite in the state directory (one host); a postgresql:// url = one
    PostgreSQL for several hosts, this one named `node` in the fleet."""
    url: str | None = None
    node: str = field(default_factory=lambda: os.uname().nodename)   # the hostname
    password: str | None = field(default=None, repr=False)   # from password_file or the credential, never logged
    password_file: Path | None = None
    lease: float = DEFAULT_LEASE


@dataclass(frozen=True)
class Config:
    source: Path | None = None           # the file read; None when there was none
    simulate: bool = False
    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig()
    apps: tuple[AppConfig, ...] = ()
    limits: LimitsConfig = LimitsConfig()
    modems: tuple[ModemConfig, ...] = ()
    otp: OtpSettings = OtpSettings()
    queue: QueueConfig = QueueConfig()
    retention: RetentionConfig = RetentionConfig()
    webhooks: tuple[WebhookConfig, ...] = ()
    database: DatabaseConfig = DatabaseConfig()
    discovery: DiscoveryConfig = DiscoveryConfig()
    routes: tuple[RouteConfig, ...] = ()
    warnings: tuple[str, ...] = field(default=(), compare=False)   # worth logging, not worth refusing to start


def _keys(table: type, *, leave_out: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The keys of a table: the fields of the dataclass it is read into, in their order (the order errors list them)."""
    return tuple(f.name for f in fields(table) if f.name not in leave_out)


# Every key the file may hold, per table. The example config documents each one, and the reader looks each one up
# (tests/test_config.py checks both).
KEYS: dict[str, tuple[str, ...]] = {
    "": _keys(Config, leave_out=("source", "warnings")),       # where the file was and what reading it found
    "server": ("listen", *_keys(ServerConfig, leave_out=("listen_host", "listen_port"))),   # listen = HOST:PORT
    "auth": _keys(AuthConfig),
    "apps": _keys(AppConfig),
    "limits": _keys(LimitsConfig),
    "modems": (*_keys(ModemConfig, leave_out=("sim",)), *_keys(SimPolicy)),   # SimPolicy's fields, flat
    "otp": _keys(OtpSettings),
    # The file's names for RetryPolicy's fields (backoff_*), then QueueConfig's own.
    "queue": ("max_attempts", "backoff_base", "backoff_factor", "backoff_cap", "max_ambiguous", "device_pause",
              *_keys(QueueConfig, leave_out=("retry",))),
    "retention": _keys(RetentionConfig),
    "webhooks": _keys(WebhookConfig, leave_out=("payload", "hook_id")),    # registered through /asg only
    "database": _keys(DatabaseConfig, leave_out=("password",)),   # the password comes from a file or credential
    "discovery": _keys(DiscoveryConfig),
    "routes": _keys(RouteConfig),
}


def default_path() -> Path:
    """systemd's ConfigurationDirectory= sets $CONFIGURATION_DIRECTORY; otherwise /etc/modemd."""
    conf_dir = os.environ.get("CONFIGURATION_DIRECTORY")
    return Path(conf_dir.split(":")[0]) / "modemd.toml" if conf_dir else DEFAULT_PATH
