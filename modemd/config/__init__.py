"""Configuration: the TOML file -> frozen, validated settings with errors that name the key path; overrides from
flags; what a SIGHUP reload may change.

Modules: loader (load_config and the public face: Config, ModemConfig, ConfigError, ...), model (the frozen
dataclasses and the schema: keys, allowed values, defaults), reader (a generic TOML reader: typed getters, "did you
mean", private secret files), sections (the whole file read into the model, each table by server ([server], [auth],
[[apps]], [limits]), modems ([[modems]], [queue], [retention]), otp or webhooks; values holds the checks they
share; twilio the [[apps]] keys of the /twilio layer), overrides (flags, reload), tokens (what a good API token
is, and where tokens come from besides the file), paths (the state directory), file_access (could user modemd read
this file?).
May import: domain. Nothing here starts a task or opens a socket.
"""

from .loader import Config, ConfigError, ModemConfig, WebhookConfig, apply_cli_overrides, load_config, reloaded

__all__ = ["Config", "ConfigError", "ModemConfig", "WebhookConfig", "apply_cli_overrides", "load_config", "reloaded"]
