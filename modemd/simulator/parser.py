"""ITU-T V.250 command line syntax: split the text after "AT" into commands (pure).

V.250 5.2-5.4: spaces outside strings are ignored, letters outside strings are case-insensitive, basic commands
(E0, V1, &F, S0=0) follow each other directly, extended commands (+CMGF=0, ^CURC=0) are separated by ';'.
"""
from __future__ import annotations

from dataclasses import dataclass

ACTION, READ, TEST, SET = "action", "read", "test", "set"
_EXTENDED_PREFIXES = "+^$%#*"
_NAME_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!%-./:_")


class CommandLineError(ValueError):
    """The line breaks V.250 syntax; a modem answers ERROR and runs none of it."""


@dataclass(frozen=True)
class Command:
    name: str                       # "+CMGS", "E", "&F", "S7", "I"
    form: str                       # ACTION / READ / TEST / SET
    args: tuple[str | None, ...]    # raw values: quotes removed, "" -> None; basic commands: (digits,) or ()

    def int_arg(self, i: int, default: int | None = None) -> int | None:
        """The i-th argument as int; missing/empty gives default; non-numeric raises ValueError."""
        if i >= len(self.args) or self.args[i] is None:
            return default
        return int(self.args[i])

    def str_arg(self, i: int, default: str | None = None) -> str | None:
        return default if i >= len(self.args) or self.args[i] is None else self.args[i]


def normalise(body: str) -> str:
    """Drop spaces and upper-case everything outside double quotes (V.250 5.2.2)."""
    out, quoted = [], False
    for ch in body:
        if ch == '"':
            quoted = not quoted
            out.append(ch)
        elif quoted:
            out.append(ch)
        elif ch not in " \t":
            out.append(ch.upper())
    if quoted:
        raise CommandLineError("unterminated string")
    return "".join(out)


def split_args(text: str) -> tuple[str | None, ...]:
    """'1,"SM",,2' -> ('1', 'SM', None, '2'); commas inside quotes are data."""
    if text == "":
        return ()
    args, cur, quoted, was_quoted = [], [], False, False
    for ch in text:
        if ch == '"':
            quoted = not quoted
            was_quoted = True
        elif ch == "," and not quoted:
            args.append("".join(cur) if (cur or was_quoted) else None)
            cur, was_quoted = [], False
        else:
            cur.append(ch)
    args.append("".join(cur) if (cur or was_quoted) else None)
    return tuple(args)


def _end_of_extended(body: str, start: int) -> int:
    quoted = False
    for i in range(start, len(body)):
        if body[i] == '"':
            quoted = not quoted
        elif body[i] == ";" and not quoted:
            return i
    return len(body)


def _parse_extended(text: str) -> Command:
    i = 1
    while i < len(text) and text[i] in _NAME_CHARS:
        i += 1
    name, rest = text[:i], text[i:]
    if len(name) < 2:
        raise CommandLineError(f"bad extended command {text!r}")
    if rest == "":
        return Command(name, ACTION, ())
    if rest == "?":
        return Command(name, READ, ())
    if rest == "=?":
        return Command(name, TEST, ())
    if rest.startswith("="):
        return Command(name, SET, split_args(rest[1:]))
    raise CommandLineError(f"bad extended command {text!r}")


def _digits(body: str, i: int) -> int:
    while i < len(body) and body[i].isdigit():
        i += 1
    return i


def _parse_basic(body: str, i: int) -> tuple[Command, int]:
    """One basic command at body[i]; returns it and the index after it."""
    ch = body[i]
    if ch == "D":                                   # dial takes the rest of the line (V.250 6.3.1)
        return Command("D", SET, (body[i + 1:],)), len(body)
    if ch == "S":                                   # S-parameter: Sn? / Sn=v (V.250 5.3.2)
        j = _digits(body, i + 1)
        name = "S" + body[i + 1:j]
        if body.startswith("?", j):
            return Command(name, READ, ()), j + 1
        if body.startswith("=", j):
            k = _digits(body, j + 1)
            return Command(name, SET, (body[j + 1:k],)), k
        raise CommandLineError("bad S-parameter")
    name_end = i + 2 if ch == "&" else i + 1
    if ch == "&" and (name_end > len(body) or not body[i + 1].isalpha()):
        raise CommandLineError("bad & command")
    j = _digits(body, name_end)
    value = body[name_end:j]
    return Command(body[i:name_end], SET if value else ACTION, (value,) if value else ()), j


def parse_command_line(body: str) -> list[Command]:
    """Parse what follows "AT" on one line. Raises CommandLineError for malformed input."""
    body = normalise(body)
    commands, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == ";":
            i += 1
        elif ch in _EXTENDED_PREFIXES:
            end = _end_of_extended(body, i)
            commands.append(_parse_extended(body[i:end]))
            i = end
        elif ch.isalpha() or ch == "&":
            cmd, i = _parse_basic(body, i)
            commands.append(cmd)
        else:
            raise CommandLineError(f"unexpected {ch!r} in command line")
    return commands
