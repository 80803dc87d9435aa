"""Command-line flags over the file (`apply_cli_overrides`), the "is there anything to run" check, and what a
SIGHUP reload may change in a running daemon (`reloaded`, `restart_required`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from .model import BAUD_RATES, LOG_LEVELS, RESTART_KEYS, Config, ModemConfig, default_path
from .reader import ConfigError, show
from .modems import check_pin, read_pin_file
from .values import parse_listen


def apply_cli_overrides(config: Config, *, ports: list[str] | tuple[str, ...] = (), state_dir: Path | None = None,
                        listen: str | None = None, simulate: bool = False, baud: int | None = None,
                        rtscts: bool = False, pin: str | None = None, pin_file: Path | None = None,
                        log_level: str | None = None) -> Config:
    """Command-line flags win over the file; a flag left at None/False/() leaves the file's value alone.

    `ports` (repeated --port) replaces the file's modem list: a port the file also lists keeps that modem's name
    and settings, others become modem0, modem1, .... `baud`, `rtscts`, `pin`/`pin_file` apply to every modem
    in the result. `simulate` adds the simulated modem. Finally at least one modem (or simulate) is required: this
    is also what `check-config` runs. Errors name the flag (`--baud: ...`). Raises ConfigError."""
    server = config.server
    if listen is not None:
        try:
            host, port = parse_listen(listen)
        except ValueError as exc:
            raise ConfigError("--listen", f"{exc}, got {show(listen)}") from None
        server = replace(server, listen_host=host, listen_port=port)
    if state_dir is not None:
        server = replace(server, state_dir=Path(state_dir).absolute())
    if log_level is not None:
        if log_level not in LOG_LEVELS:
            raise ConfigError("--log-level", "must be one of " + ", ".join(LOG_LEVELS))
        server = replace(server, log_level=log_level)
    modems = _override_modems(config.modems, list(ports), _modem_changes(baud, rtscts, pin, pin_file))
    result = replace(config, server=server, modems=modems, simulate=config.simulate or simulate)
    require_modem(result)
    return result


def _modem_changes(baud: int | None, rtscts: bool, pin: str | None, pin_file: Path | None) -> dict:
    changes: dict[str, Any] = {}
    if baud is not None:
        if baud not in BAUD_RATES:
            raise ConfigError("--baud", "must be one of " + ", ".join(map(str, BAUD_RATES)) + f", got {baud}")
        changes["baud"] = baud
    if rtscts:
        changes["rtscts"] = True
    if pin_file is not None:
        changes.update(pin=read_pin_file("--pin-file", Path(pin_file)), pin_file=Path(pin_file))
    elif pin is not None:
        check_pin("--pin", pin)
        changes.update(pin=pin, pin_file=None)
    return changes


def _override_modems(modems: tuple[ModemConfig, ...], ports: list[str], changes: dict) -> tuple[ModemConfig, ...]:
    if ports:
        if len(set(ports)) != len(ports):
            raise ConfigError("--port", "the same port is given twice")
        by_port = {m.port: m for m in modems}
        taken = {by_port[p].name for p in ports if p in by_port}
        fresh = (f"modem{i}" for i in range(len(ports) * 2 + len(taken)) if f"modem{i}" not in taken)
        modems = tuple(by_port.get(p) or ModemConfig(name=next(fresh), port=p) for p in ports)
    return tuple(replace(m, **changes) for m in modems)


def require_modem(config: Config) -> None:
    if config.modems or config.simulate:
        return
    if config.source is None:
        raise ConfigError("modems", f"nothing to run: no config file at {default_path()} and no --port PATH or "
                                    "--simulate given (or pass --config FILE)")
    raise ConfigError("modems", "no modem configured: add a [[modems]] table with a port, or give --port PATH, "
                                "or set simulate = true", file=config.source)


def restart_required(running: Config, new: Config) -> tuple[str, ...]:
    """The keys in RESTART_KEYS whose values differ: a reload leaves them as they are and says so."""
    values = {"simulate": lambda c: c.simulate, "server.listen": lambda c: c.server.listen,
              "server.unix_socket": lambda c: c.server.unix_socket, "server.state_dir": lambda c: c.server.state_dir,
              "server.max_connections": lambda c: c.server.max_connections,
              "server.idle_timeout": lambda c: c.server.idle_timeout,
              "modems": lambda c: c.modems, "database": lambda c: c.database,
              "discovery": lambda c: c.discovery, "routes": lambda c: c.routes}
    return tuple(k for k in RESTART_KEYS if values[k](running) != values[k](new))


def reloaded(running: Config, new: Config) -> tuple[Config, tuple[str, ...]]:
    """What a SIGHUP applies: `new` with the restart-only parts kept from `running`, and the keys that were kept
    although the file changed them (log them: "server.listen changed; takes effect after a restart")."""
    kept = restart_required(running, new)
    server = replace(new.server, listen_host=running.server.listen_host, listen_port=running.server.listen_port,
                     unix_socket=running.server.unix_socket, state_dir=running.server.state_dir,
                     max_connections=running.server.max_connections, idle_timeout=running.server.idle_timeout)
    return replace(new, simulate=running.simulate, modems=running.modems, server=server,
                   database=running.database, discovery=running.discovery, routes=running.routes), kept
