"""TOML -> frozen, validated config objects, with an error that names the key path and the problem.

`/etc/modemd/modemd.toml` (or `$CONFIGURATION_DIRECTORY/modemd.toml` under systemd's ConfigurationDirectory=) is
read with tomllib and checked whole before anything starts: an unknown key is an error with a "did you mean" (a
typo such as `lenght = 8` must not be silently ignored), every value is type- and range-checked, and secret files
are read at load. `modemd.example.toml` in the repository documents every key and its default.

Secrets (SIM PINs, API tokens, webhook secrets) never appear in an error message or a repr: messages say what is
wrong with them, never what they are, and their fields are `repr=False`.

Command-line flags override the file (`apply_cli_overrides`), so `modemd run --port PATH` works without any file.
The OTP and retry settings are the very objects the services take (`domain.policy.OtpSettings`,
`domain.policy.RetryPolicy`), so there is no second copy of their fields to drift; the template is checked by
`domain.policy.check_template` itself.

The modules behind this one: reader (the generic typed TOML key reader and its errors), model (the frozen config
objects and the file's schema), sections (reading the whole file, each table by server, modems, otp or webhooks,
with the checks in values), overrides (command-line flags and SIGHUP reloads). Every name other modules import from
`modemd.config.loader` is re-exported here.
"""

from __future__ import annotations

from pathlib import Path

from .model import (BAUD_RATES, DEFAULT_APP, DEFAULT_PATH, EVENTS, KEYS, LOCAL_APP, LOG_LEVELS, MIN_SECRET,
                    RESTART_KEYS, SCOPES, SIGNATURE_SCHEMES, AppConfig, AuthConfig, Config, LimitsConfig,
                    RetentionConfig, ModemConfig, QueueConfig, ServerConfig, WebhookConfig, default_path)
from .overrides import apply_cli_overrides, reloaded, require_modem, restart_required
from .reader import ConfigError, parse_toml, read_text
from .modems import check_pin, read_pin_file
from .sections import build_config
from .values import parse_listen

__all__ = ["load_config", "apply_cli_overrides", "reloaded", "restart_required", "require_modem", "default_path",
           "parse_listen", "check_pin", "read_pin_file", "Config", "ConfigError", "ServerConfig", "AuthConfig",
           "ModemConfig", "QueueConfig", "WebhookConfig", "DEFAULT_PATH", "BAUD_RATES", "LOG_LEVELS", "EVENTS",
           "MIN_SECRET", "KEYS", "RESTART_KEYS", "AppConfig", "LimitsConfig", "RetentionConfig", "SCOPES",
           "DEFAULT_APP", "LOCAL_APP", "SIGNATURE_SCHEMES"]


def load_config(path: Path | None = None) -> Config:
    """Read and validate a config file. With path=None a missing default file is no error: an empty Config comes
    back and the command line must name the modems (apply_cli_overrides checks that). Raises ConfigError."""
    if path is None:
        path = default_path()
        if not _exists(path):
            return Config()
    try:
        text, mode = read_text(path)
        data = parse_toml(text)
        return build_config(data, path, world_readable=bool(mode & 0o004))
    except ConfigError as exc:
        exc.file = path
        raise


def _exists(path: Path) -> bool:
    """True also when the directory may not be searched (/etc/modemd is 0750 root:modemd): reading it then says
    "Permission denied" instead of an empty config hiding the file."""
    try:
        return path.exists()
    except PermissionError:
        return True
