"""The AT interpreter of the simulated modem: bytes in -> actions out (pure: no I/O, no clock but `now`).

Input handling follows ITU-T V.250 5.2: a command line is collected up to <CR> (S3), <BS> (S5) edits it, <LF> is
ignored, echo (E1) returns every received character at once, and the line is searched for "AT" / "at".
After AT+CMGS / AT+CMGW the TA is in the message-entry state of TS 27.005 3.5.1 / 4.3: "\r\n> " is sent (no CRLF
after it), data runs to <ctrl-Z> (send) or <ESC> (cancel).
URCs wait while a command line is being typed or answered (27.005 3.4.1 "TA-TE link reserved"), then go out
after the final result code; `Faults.urc_inside_response` instead puts them before the final result code, as
EC25 and SIM800 firmware sometimes do.
"""
from __future__ import annotations

from collections import deque
from datetime import datetime, timezone
from typing import Callable

from . import commands_basic, commands_send, commands_sms, inbound
from .actions import Out, UrcSlot
from .faults import Faults
from .parser import CommandLineError, parse_command_line
from .profile import DEFAULT_PROFILE, ModemProfile
from .results import AtFailure, PlainError, final_text
from .state import Settings, Sim

CR, LF, BS, CTRL_Z, ESC = 0x0D, 0x0A, 0x08, 0x1A, 0x1B
MAX_LINE = 2048                    # EC25 accepts long lines; beyond this a real TA drops the line
_STORM = ("^RSSI: 17", "+CREG: {reg}", '+QIND: "csq",20,99')
_GARBAGE = (b"\x00", b"\x00\xff\xfe\x00", b"\r\n\x00\x00\r\n", b"\x7f\x80\xc3(noise\x00\r\n")
_V0_CODES = {"OK": "0", "ERROR": "4"}    # V.250 Table 1 numeric result codes


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Dialect:
    def __init__(self, profile: ModemProfile = DEFAULT_PROFILE, faults: Faults | None = None,
                 now: Callable[[], datetime] = _utcnow):
        self.profile = profile
        self.faults = faults if faults is not None else Faults()
        self.now = now
        self.sim = Sim.from_profile(profile)
        self.settings = Settings()
        self.handlers = {**commands_basic.HANDLERS, **commands_sms.HANDLERS, **commands_send.HANDLERS}
        self.urcs: deque[list[str]] = deque()      # each URC is one or two lines (+CMT / +CDS carry a PDU line)
        self.held_urcs: list[list[str]] = []       # CNMI mode 0: kept in the TA until mode 1/2 (27.005 3.4.1)
        self.network_queue: list[inbound.Pending] = []   # SMS the ME refused (memory full); the SC retries
        self.line = bytearray()
        self.last_line = ""
        self.prompt = None                          # commands_sms.Prompt while in message-entry state
        self.pending_acks = 0                       # +CMT / +CDS awaiting AT+CNMA (CSMS=1)
        self.concat_ref = 0
        self._applied = {"sim_state": None, "pin": None}
        self.reported_registration: int | None = None
        self._storm_index = 0
        self._garbage_index = 0
        self.power_up()

    # ----------------------------------------------------------------------------------------- lifecycle
    def default_settings(self) -> Settings:
        """What power-up, ATZ and AT&F restore. A device that cannot announce SMS stores them silently (mt=0)."""
        return Settings() if self.profile.announces_sms else Settings(cnmi=(0, 0, 0, 0, 0))

    def power_up(self) -> None:
        """Power-on / reset: volatile settings back to defaults, SIM asks for its PIN again if it has one."""
        self.settings = self.default_settings()
        self.line.clear()
        self.prompt = None
        self.pending_acks = 0
        self.urcs.clear()                       # the TA's buffer does not survive a power cycle
        self.held_urcs.clear()
        if self.faults.pin is not None:
            self.sim.pin = self.faults.pin
            self._applied["pin"] = self.faults.pin
        self.sim.power_up()
        self.reported_registration = self.registration()

    @property
    def idle(self) -> bool:
        """No command line being typed and no message being entered: URCs may go out now."""
        return not self.line and self.prompt is None

    # ----------------------------------------------------------------------------------------- faults
    def sync_faults(self) -> None:
        """Apply switches that change modem state (edge-triggered, so the client can still unlock the SIM)."""
        f = self.faults
        if f.pin != self._applied["pin"]:
            self._applied["pin"] = f.pin
            if f.pin is not None:
                self.sim.pin = f.pin             # takes effect at the next power-up, like a PIN set on a phone
        if f.sim_state != self._applied["sim_state"]:
            self._applied["sim_state"] = f.sim_state
            if f.sim_state is not None:
                self._force_sim_state(f.sim_state)
        self.check_registration()

    def _force_sim_state(self, state: str) -> None:
        self.sim.state = state
        if state == "SIM PIN" and not self.sim.pin:
            self.sim.pin = self.faults.pin or "1234"
        if state == "SIM PUK":
            self.sim.pin_attempts = 0
        if state == "READY":
            self.sim.pin_attempts = 3

    def registration(self) -> int:
        """+CREG <stat>: no radio (CFUN 0/4), no usable SIM or deregistered (+COPS=2): not registered, not searching."""
        if self.settings.cfun != 1 or self.sim.state != "READY" or self.settings.cops_mode == 2:
            return 0
        return self.faults.registration

    def check_registration(self) -> None:
        """TS 27.007 7.2: with +CREG=1/2 a change of <stat> is reported as +CREG: <stat>[,<lac>,<ci>[,<AcT>]]."""
        stat = self.registration()
        if stat == self.reported_registration:
            return
        self.reported_registration = stat
        for name, n in (("+CREG", self.settings.creg_n), ("+CGREG", self.settings.cgreg_n),
                        ("+CEREG", self.settings.cereg_n)):
            if n >= 1:
                self.queue_urc([f"{name}: {commands_basic.reg_fields(self, stat, n, urc=True)}"])

    # ----------------------------------------------------------------------------------------- network side
    def inject_sms(self, sender: str, text: str, **options) -> list[int]:
        return inbound.inject_sms(self, sender, text, **options)

    def inject_status_report(self, message_reference: int, recipient: str, status: int = 0, **options):
        return inbound.inject_status_report(self, message_reference, recipient, status, **options)

    def send_urc(self, line: str) -> None:
        """A raw URC; "\n" separates the lines of a two-line one (+CMT header and PDU)."""
        self.queue_urc(line.split("\n"))

    # ----------------------------------------------------------------------------------------- URCs
    def queue_urc(self, lines: list[str], *, sms: bool = False) -> None:
        """sms=True: subject to CNMI <mode> 0 (held in the TA until AT+CNMI switches to 1 or 2)."""
        if sms and self.settings.cnmi[0] == 0:
            self.held_urcs.append(lines)
        else:
            self.urcs.append(lines)

    def take_urcs(self) -> bytes:
        """All queued URCs as bytes ("\r\n<line>\r\n" each, V.250 5.7.1), and forget them."""
        out = b"".join(self._urc_bytes(lines) for lines in self.urcs)
        self.urcs.clear()
        return out

    def take_inside_urcs(self) -> bytes:
        """At a UrcSlot: the pending URCs if Faults.urc_inside_response, else nothing."""
        return self.take_urcs() if self.faults.urc_inside_response else b""

    @staticmethod
    def _urc_bytes(lines: list[str]) -> bytes:
        return ("\r\n" + "\r\n".join(lines) + "\r\n").encode("latin-1", "replace")

    def _storm_bytes(self) -> bytes:
        lines = []
        for _ in range(self.faults.urc_storm):
            template = _STORM[self._storm_index % len(_STORM)]
            self._storm_index += 1
            lines.append(template.format(reg=self.registration()))
        return b"".join(self._urc_bytes([line]) for line in lines)

    def _garbage_bytes(self) -> bytes:
        if not self.faults.garbage:
            return b""
        self._garbage_index += 1
        return _GARBAGE[self._garbage_index % len(_GARBAGE)]

    # ----------------------------------------------------------------------------------------- input
    def feed(self, data: bytes) -> list:
        """Process received bytes; returns the actions (Out / Sleep / Submitted / Replug / ReportLater)."""
        self.sync_faults()
        if self.faults.no_answer:
            return []                           # a hung modem reads and forgets; nothing comes back
        actions: list = []
        echo = bytearray()
        for byte in data:
            if self.prompt is not None:
                self._prompt_byte(byte, echo, actions)
            else:
                self._command_byte(byte, echo, actions)
        if echo:
            actions.append(Out(bytes(echo)))
        self._after_command(actions)
        return _merge(actions)

    def _after_command(self, actions: list) -> None:
        inbound.retry_network_queue(self)
        self.check_registration()
        if self.idle and self.urcs:
            actions.append(Out(self.take_urcs()))

    def _command_byte(self, byte: int, echo: bytearray, actions: list) -> None:
        if self.settings.echo and byte != LF:
            echo.append(byte)
        if byte == CR:
            line = self.line.decode("latin-1")
            self.line.clear()
            self._flush_echo(echo, actions)
            self._run_line(line, actions)
        elif byte == BS:
            del self.line[-1:]
        elif byte in (LF, 0, CTRL_Z, ESC):
            pass                                # stray control characters (gammu sends ESC \r to leave "> ")
        elif len(self.line) < MAX_LINE:
            self.line.append(byte)
            if self.line.upper() == b"A/":      # V.250 6.2.1: repeat the last command line, no <CR> needed
                self.line.clear()
                self._flush_echo(echo, actions)
                self._run_body(self.last_line, actions)

    @staticmethod
    def _flush_echo(echo: bytearray, actions: list) -> None:
        if echo:
            actions.append(Out(bytes(echo)))
            echo.clear()

    def _prompt_byte(self, byte: int, echo: bytearray, actions: list) -> None:
        if self.settings.echo and byte not in (CTRL_Z, ESC):
            echo.append(byte)
        prompt = self.prompt
        if byte == ESC:
            self.prompt = None
            self._flush_echo(echo, actions)
            actions.append(Out(self._final_bytes(None)))      # cancelled: nothing sent, OK (27.005 3.5.1)
        elif byte == CTRL_Z:
            self.prompt = None
            self._flush_echo(echo, actions)
            self._finish_prompt(prompt, actions)
        elif byte == CR and prompt.text_mode:
            prompt.data.append(LF)                            # 27.005 3.5.1 text mode: <CR> starts a new line
            self._flush_echo(echo, actions)
            actions.append(Out(b"\r\n> "))
        elif byte not in (CR, LF):
            prompt.data.append(byte)

    def _finish_prompt(self, prompt, actions: list) -> None:
        try:
            result = prompt.complete(self, bytes(prompt.data))
        except AtFailure as exc:
            result = commands_basic.Result(failure=exc)
        actions.extend(result.effects)
        actions.extend(self._response([result.lines], result.failure))

    # ----------------------------------------------------------------------------------------- execution
    def _run_line(self, line: str, actions: list) -> None:
        start = line.upper().find("AT")
        if start < 0:
            return                              # V.250 5.2.1: nothing to do until "AT" arrives
        self.last_line = line[start + 2:]
        self._run_body(self.last_line, actions)

    def _run_body(self, body: str, actions: list) -> None:
        try:
            commands = parse_command_line(body)
        except CommandLineError:
            actions.extend(self._response([], PlainError()))
            return
        blocks, failure = [], None
        for command in commands:
            try:
                result = self._dispatch(command)
            except AtFailure as exc:
                failure = exc
                break
            except ValueError:                  # non-numeric where a number belongs: V.250 says ERROR
                failure = PlainError()
                break
            if isinstance(result, commands_sms.Prompt):
                self.prompt = result
                actions.append(Out(b"\r\n> "))   # 27.005 3.5.1: <CR><LF><greater_than><space>, nothing after
                return
            blocks.append(result.lines)
            actions.extend(result.effects)
            if result.failure is not None:
                failure = result.failure
                break
        actions.extend(self._response(blocks, failure))

    def _dispatch(self, command):
        handler = self.handlers.get(command.name)
        if handler is None:
            raise PlainError()                  # unknown command: V.250 5.7.1 ERROR, as EC25 answers
        return commands_basic.as_result(handler(self, command))

    # ----------------------------------------------------------------------------------------- output
    def _response(self, blocks: list[list[str]], failure: AtFailure | None) -> list:
        """Information text, then a UrcSlot (where the host may put URCs that arrived meanwhile, when
        Faults.urc_inside_response is on), then the final result code."""
        info = self._storm_bytes() + b"".join(self._info_bytes(lines) for lines in blocks if lines)
        slot = [UrcSlot()] if any(blocks) else []
        return [Out(info), *slot, Out(self._final_bytes(failure) + self._storm_bytes() + self._garbage_bytes())]

    def _info_bytes(self, lines: list[str]) -> bytes:
        text = "\r\n".join(lines)
        text = f"\r\n{text}\r\n" if self.settings.verbose else f"{text}\r\n"
        return text.encode("latin-1", "replace")

    def _final_bytes(self, failure: AtFailure | None) -> bytes:
        if self.settings.quiet:
            return b""                          # Q1: no result codes (V.250 6.2.5)
        text = final_text(failure, self.settings.cmee)
        if not self.settings.verbose:
            return (_V0_CODES.get(text, text) + "\r").encode()
        return f"\r\n{text}\r\n".encode("latin-1", "replace")


def _merge(actions: list) -> list:
    """Join adjacent Out actions so a response leaves in one write unless the byte-by-byte fault says otherwise."""
    merged: list = []
    for action in actions:
        if isinstance(action, Out) and merged and isinstance(merged[-1], Out):
            merged[-1] = Out(merged[-1].data + action.data)
        else:
            merged.append(action)
    return merged

