"""A generic reader for TOML config files: unknown keys refused with a "did you mean", typed and range-checked
getters that name the key path in every error, secret files that must be private. Nothing modemd-specific: the
schema (which keys each table may hold) comes in through ReadContext.

Secrets never appear in an error message: `show()` says what kind of value is wrong, never what a secret is.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Callable


class ConfigError(ValueError):
    """`path` is the key path (`modems[1].baud`, `--port`, or "" for the file as a whole)."""

    def __init__(self, path: str, problem: str, *, file: Path | None = None, line: int | None = None,
                 column: int | None = None):
        super().__init__(path, problem)
        self.path, self.problem, self.file, self.line, self.column = path, problem, file, line, column

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}: {where}{self.problem}" if self.file else f"{where}{self.problem}"


def read_text(path: Path) -> tuple[str, int]:
    try:
        with open(path, "rb") as f:
            mode, raw = os.fstat(f.fileno()).st_mode, f.read()
    except FileNotFoundError:
        raise ConfigError("", "no such file") from None
    except OSError as exc:
        raise ConfigError("", f"cannot read it: {exc.strerror}") from None
    try:
        return raw.decode("utf-8"), mode
    except UnicodeDecodeError as exc:
        raise ConfigError("", f"not UTF-8 text (byte {exc.start})") from None


def parse_toml(text: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib (3.11) puts the position only in the message: "Invalid value (at line 2, column 5)".
        found = re.search(r"at line (\d+), column (\d+)", str(exc))
        line, column = (int(found[1]), int(found[2])) if found else (None, None)
        raise ConfigError("", f"not valid TOML: {exc}", line=line, column=column) from None


class ReadContext:
    """What every table of one file shares: its schema (table name -> allowed keys), whether the file is
    world-readable (then no secret may be written in it), and the warnings collected while reading."""

    def __init__(self, keys: dict[str, tuple[str, ...]], world_readable: bool):
        self.keys = keys
        self.world_readable = world_readable
        self.warnings: list[str] = []


class Table:
    """One TOML table: unknown keys are refused up front; typed getters name the key path in every error."""

    def __init__(self, data: dict, path: str, allowed: tuple[str, ...], ctx: ReadContext):
        self.data, self.path, self.ctx = data, path, ctx
        for key in data:
            if key not in allowed:
                raise ConfigError(self.key(key), unknown("key", key, allowed))

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def fail(self, name: str, problem: str) -> None:
        raise ConfigError(self.key(name), problem)

    def get(self, name: str, default: Any, accepts: Callable[[Any], bool], expected: str, *,
            secret: bool = False) -> Any:
        if name not in self.data:
            return default
        value = self.data[name]
        if not accepts(value):
            self.fail(name, f"must be {expected}, got {show(value, secret)}")
        return value

    def integer(self, name: str, default: int, low: int, high: int | None = None) -> int:
        expected = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"
        return self.get(name, default, lambda v: _is_int(v) and low <= v <= (high if high is not None else v),
                        expected)

    def number(self, name: str, default: float, low: float, high: float | None = None, *,
               above: bool = False) -> float:
        """A number of seconds (or per minute); `above` makes `low` exclusive."""
        bound = f"> {num(low)}" if above else f">= {num(low)}"
        expected = f"a number {bound}" + (f" and <= {num(high)}" if high is not None else "")

        def ok(v):
            return _is_number(v) and (v > low if above else v >= low) and (high is None or v <= high)
        return float(self.get(name, default, ok, expected))

    def boolean(self, name: str, default: bool) -> bool:
        return self.get(name, default, lambda v: isinstance(v, bool), "true or false")

    def string(self, name: str, default: str | None, *, secret: bool = False) -> str | None:
        return self.get(name, default, lambda v: isinstance(v, str) and v != "", "a non-empty string",
                        secret=secret)

    def required(self, name: str, hint: str, *, secret: bool = False) -> str:
        value = self.string(name, None, secret=secret)
        if value is None:
            self.fail(name, f"required: {hint}")
        return value

    def choice(self, name: str, default: Any, allowed: tuple) -> Any:
        value = self.get(name, default, lambda v: v in allowed and type(v) is type(allowed[0]),
                         "one of " + ", ".join(show(a) for a in allowed))
        return value

    def strings(self, name: str, *, secret: bool = False) -> tuple[str, ...]:
        return tuple(self.get(name, [], lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v),
                              "an array of strings", secret=secret))

    def names(self, name: str, default: tuple[str, ...], allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
        """A non-empty array of `what`s from `allowed` (each unknown one named by its index), repeats dropped;
        `default` when the key is absent."""
        values = self.strings(name) if name in self.data else default
        if not values:
            self.fail(name, "required: a non-empty array of " + ", ".join(allowed))
        for i, value in enumerate(values):
            if value not in allowed:
                raise ConfigError(self.key(f"{name}[{i}]"), f"{show(value)}: " + unknown(what, value, allowed))
        return tuple(dict.fromkeys(values))

    def path_value(self, name: str) -> Path | None:
        value = self.string(name, None)
        if value is not None and not value.startswith("/"):
            self.fail(name, f"must be an absolute path, got {show(value)}")
        return Path(value) if value is not None else None

    def table(self, name: str) -> Table:
        value = self.get(name, {}, lambda v: isinstance(v, dict), f"a table ([{self.key(name)}])")
        return Table(value, self.key(name), self.ctx.keys[name], self.ctx)

    def tables(self, name: str) -> list[Table]:
        value = self.get(name, [], lambda v: isinstance(v, list) and all(isinstance(t, dict) for t in v),
                         f"an array of tables ([[{self.key(name)}]])")
        return [Table(t, f"{self.key(name)}[{i}]", self.ctx.keys[name], self.ctx) for i, t in enumerate(value)]

    def inline_secret(self, name: str) -> None:
        """A secret written into the config file itself needs a file other users cannot read."""
        if self.ctx.world_readable:
            self.fail(name, "a secret written in the config file needs a file others cannot read: chmod o-r the "
                            "config file (e.g. 640 root:modemd), or move the secret to a file of its own")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v   # v == v: not NaN


def num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def show(value: Any, secret: bool = False) -> str:
    """How an offending value appears in an error: TOML-like, short, and never the content of a secret."""
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
             dict: "a table"}
    if secret or isinstance(value, (list, dict)):
        return kinds.get(type(value), "a date/time")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 60 else value[:57] + "...", ensure_ascii=False)
    return "a date/time"


def unknown(what: str, name: str, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown {what}; did you mean {json.dumps(close[0])}?"
    return f"unknown {what}; expected one of: " + ", ".join(allowed)


def read_secret_file(key: str, path: Path) -> bytes:
    """A secret file must be readable by modemd alone (0600 or 0400): refuse group- or world-accessible ones."""
    try:
        with open(path, "rb") as f:
            mode, data = os.fstat(f.fileno()).st_mode, f.read()
    except OSError as exc:
        raise ConfigError(key, f"cannot read {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise ConfigError(key, f"{path} is accessible to group or others (mode {mode & 0o777:04o}): chmod 600 it "
                               "and give it to the user modemd runs as, or use a systemd credential")
    return data.strip()


def inline_or_file_secret(t: Table, name: str, file_name: str) -> tuple[bytes, str, Path | None] | None:
    """A secret written as `name` (the config file must then be private) or kept in the file `file_name` names (0600),
    not both: (its bytes, the key it came from, the file), or None when the table has neither."""
    if name in t.data and file_name in t.data:
        t.fail(file_name, f"cannot be combined with {name}; keep one of them")
    if name in t.data:
        t.inline_secret(name)
        return t.string(name, None, secret=True).encode("utf-8"), t.key(name), None
    if file_name in t.data:
        path = t.path_value(file_name)
        return read_secret_file(t.key(file_name), path), t.key(file_name), path
    return None
