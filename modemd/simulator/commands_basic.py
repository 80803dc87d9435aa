"""V.250 basic commands, identity (TS 27.007 5), SIM (8.3), network (7.2, 7.3, 7.5, 8.5) and CFUN (8.2).

Each handler takes (dialect, command) and returns information lines, a `Result`, or raises an AtFailure.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .actions import Replug
from .parser import ACTION, READ, SET, TEST, Command
from .results import SIM_STATE_CME, CmeFailure, PlainError


@dataclass
class Result:
    lines: list[str] = field(default_factory=list)
    effects: list = field(default_factory=list)      # actions before the lines go out (Sleep, Submitted ...)
    failure: object = None                           # AtFailure to report after the effects (e.g. after a delay)


def as_result(value) -> object:
    if value is None:
        return Result()
    if isinstance(value, list):
        return Result(value)
    return value                                      # Result or Prompt


def bad_parameters() -> CmeFailure:
    return CmeFailure(50)                             # EC25: "+CME ERROR: 50" = incorrect parameters


def require_sim(d) -> None:
    """27.007 commands that read the SIM fail with the SIM state's +CME code (9.2.1: 10/11/12/13)."""
    if d.sim.state != "READY":
        raise CmeFailure(SIM_STATE_CME[d.sim.state])


def flag(c: Command, low: int = 0, high: int = 1) -> int:
    """The one numeric argument of a basic or extended setting, range-checked."""
    value = int(c.args[0]) if c.args and c.args[0] not in (None, "") else 0
    if not low <= value <= high:
        raise PlainError() if len(c.name) <= 2 else bad_parameters()
    return value


# ---------------------------------------------------------------------------------------- V.250 basic
def _echo(d, c):
    d.settings.echo = bool(flag(c))


def _verbose(d, c):
    d.settings.verbose = bool(flag(c))


def _quiet(d, c):
    d.settings.quiet = bool(flag(c))


def _reset(d, c):
    """ATZ / AT&F: settings back to defaults, echo on again; the SIM stays unlocked (no power cycle). +CFUN is not
    part of the V.250 profile, nor are +CGATT and the +COPS mode: radio, packet attach and network selection stay as
    they were (an EC25 left in airplane mode, or deregistered with AT+COPS=2, stays so after ATZ)."""
    kept = d.settings.cfun, d.settings.cgatt, d.settings.cops_mode
    d.settings = d.default_settings()
    d.settings.cfun, d.settings.cgatt, d.settings.cops_mode = kept
    d.reported_registration = d.registration()


def _accept(d, c):
    """&C, &D, &K, &W, X, L, M, +IFC ...: line/speaker settings without meaning on a pty."""


def _s_register(d, c):
    if c.form == READ:
        defaults = {"S3": 13, "S4": 10, "S5": 8, "S7": 0, "S0": 0}
        return [f"{defaults.get(c.name, 0):03d}"]


def _hangup(d, c):
    """ATH / AT+CHUP: no call in progress, OK anyway (27.007 6.5)."""


def _ati(d, c):
    p = d.profile
    return [p.manufacturer, p.model, f"Revision: {p.revision}"]


# ---------------------------------------------------------------------------------------- identity
def _identity(value_of):
    def handler(d, c):
        if c.form == TEST:
            return []
        if c.form != ACTION and not (c.name == "+CGSN" and c.form == SET):
            raise PlainError()
        return [value_of(d)]
    return handler


def _cimi(d, c):
    if c.form == TEST:
        return []
    require_sim(d)
    return [d.profile.imsi]


def _iccid(d, c):
    """ICCID is readable before PIN verification (EF_ICCID is not PIN-protected, TS 31.102 4.1.1)."""
    if d.sim.state == "NOT INSERTED":
        raise CmeFailure(10)
    return [f"{c.name}: {d.profile.iccid}"]


def _cmee(d, c):
    if c.form == READ:
        return [f"+CMEE: {d.settings.cmee}"]
    if c.form == TEST:
        return ["+CMEE: (0-2)"]
    d.settings.cmee = flag(c, 0, 2)


# ---------------------------------------------------------------------------------------- SIM
def _cpin(d, c):
    if c.form == READ:
        if d.sim.state in ("NOT INSERTED", "BLOCKED"):
            raise CmeFailure(SIM_STATE_CME[d.sim.state])
        return [f"+CPIN: {d.sim.state}"]
    if c.form == TEST:
        return []
    if c.form != SET or not c.args or c.args[0] is None:
        raise bad_parameters()
    return _enter_code(d, c.str_arg(0), c.str_arg(1))


def _enter_code(d, code: str, new_pin: str | None):
    state = d.sim.state
    if state == "READY":
        raise CmeFailure(3)                 # nothing to unlock: operation not allowed
    if state in ("NOT INSERTED", "BLOCKED"):
        raise CmeFailure(SIM_STATE_CME[state])
    error = d.sim.enter_pin(code) if state == "SIM PIN" else d.sim.enter_puk(code, new_pin)
    if error is not None:
        raise CmeFailure(error)
    d.queue_urc(["+CPIN: READY"])           # EC25 reports the unlock, then SMS DONE once the SIM is read
    d.queue_urc(["+QIND: SMS DONE"])


def _qpinc(d, c):
    """Quectel AT+QPINC: remaining PIN and PUK attempts."""
    return [f'+QPINC: "SC",{d.sim.pin_attempts},{d.sim.puk_attempts}']


# ---------------------------------------------------------------------------------------- network
def reg_fields(d, stat: int, n: int, *, urc: bool) -> str:
    """<n>,<stat>[,<lac>,<ci>,<AcT>] for the read form; the URC form has no <n> (27.007 7.2)."""
    parts = [] if urc else [str(n)]
    parts.append(str(stat))
    if n >= 2 and stat in (1, 5):
        parts += [f'"{d.profile.lac}"', f'"{d.profile.cell_id}"', "7"]
    return ",".join(parts)


def _registration(attr: str):
    def handler(d, c):
        if c.form == READ:
            return [f"{c.name}: {reg_fields(d, d.registration(), getattr(d.settings, attr), urc=False)}"]
        if c.form == TEST:
            return [f"{c.name}: (0-2)"]
        if c.form == SET:
            setattr(d.settings, attr, flag(c, 0, 2))
            return
        raise PlainError()
    return handler


def _csq(d, c):
    if c.form == TEST:
        return ["+CSQ: (0-31,99),(0-7,99)"]
    rssi = d.profile.rssi if d.settings.cfun == 1 else 99      # 99 = not known (no radio)
    return [f"+CSQ: {rssi},99"]


def _cops(d, c):
    if c.form == READ:
        return [_cops_read(d)]
    if c.form == TEST:
        ops = ",".join(f'({o.stat},"{o.long_name}","{o.short_name}","{o.numeric}",{o.act})'
                       for o in d.profile.operators)
        return [f"+COPS: {ops},,(0-4),(0-2)"]
    if c.form == SET:
        mode = c.int_arg(0, 0)
        if mode == 3:                                          # 27.007 7.3: set <format> only
            d.settings.cops_format = c.int_arg(1, 0)
        elif mode not in (0, 1, 2, 4):
            raise bad_parameters()
        else:                                                  # 2: deregister, and stay so until told otherwise
            d.settings.cops_mode = mode
            d.check_registration()
        return
    raise PlainError()


def _cops_read(d) -> str:
    if d.registration() not in (1, 5):
        return f"+COPS: {d.settings.cops_mode}"
    op = d.profile.operators[0]
    name = {0: op.long_name, 1: op.short_name, 2: op.numeric}.get(d.settings.cops_format, op.long_name)
    return f'+COPS: 0,{d.settings.cops_format},"{name}",{op.act}'


def _cfun(d, c):
    if c.form == READ:
        return [f"+CFUN: {d.settings.cfun}"]
    if c.form == TEST:
        return ["+CFUN: (0,1,4),(0-1)"]
    fun, rst = c.int_arg(0, 1), c.int_arg(1, 0)
    if fun not in (0, 1, 4) or rst not in (0, 1):
        raise bad_parameters()
    if rst == 1:
        return _reset_module(d)
    d.settings.cfun = fun


def _reset_module(d):
    """AT+CFUN=1,1: OK, then the module reboots (27.007 8.2 <rst>=1). Real USB modems re-enumerate."""
    replug = d.profile.reset_replug_seconds
    if replug:
        return Result([], [Replug(replug)])
    d.power_up()
    boot = [u if u != "+CPIN: READY" else f"+CPIN: {d.sim.state}" for u in d.profile.boot_urcs]
    for line in boot:
        d.queue_urc([line])


def _cbc(d, c):
    return ["+CBC: 0,88,4044"]                   # EC25: <bcs>,<bcl>,<voltage mV>; USB powered, never charging


def _curc(d, c):
    """Huawei's ^CURC (periodic URCs on/off); daemons send it blindly, so accept it."""
    if c.form == READ:
        return [f"^CURC: {d.settings.curc}"]
    if c.form == SET:
        d.settings.curc = flag(c)


def _clac(d, c):
    return sorted("AT" + name for name in d.handlers if name[0] in "+^&")


def _portsel(d, c):
    """Huawei ^PORTSEL: which port carries URCs (0 modem, 1 PCUI). gammu's Huawei set-up sends AT^PORTSEL=1 and
    gives up on ERROR; other vendors' modems do not know the command."""
    if d.profile.manufacturer.lower() != "huawei":
        raise PlainError()
    if c.form == READ:
        return [f"^PORTSEL: {d.settings.portsel}"]
    if c.form == TEST:
        return ["^PORTSEL: (0,1)"]
    if c.form == SET and c.int_arg(0, -1) in (0, 1):
        d.settings.portsel = c.int_arg(0, 0)
        return
    raise bad_parameters()


def _clip(d, c):
    """TS 27.007 7.6 calling line identification presentation. No calls are simulated, but clients switch it on
    (python-gsmmodem sends AT+CLIP=1 at connect), and the EC25 accepts it."""
    if c.form == READ:
        return [f"+CLIP: {d.settings.clip},1"]         # <m>=1: CLIP provisioned
    if c.form == TEST:
        return ["+CLIP: (0,1)"]
    if c.form == SET and c.int_arg(0, -1) in (0, 1):
        d.settings.clip = c.int_arg(0, 0)
        return
    raise bad_parameters()


def _cgatt(d, c):
    """TS 27.007 10.1.9 packet service attach. Attached only while registered; gammu's networkinfo reads it."""
    if c.form == READ:
        return [f"+CGATT: {int(d.settings.cgatt == 1 and d.registration() in (1, 5))}"]
    if c.form == TEST:
        return ["+CGATT: (0,1)"]
    if c.form == SET and c.int_arg(0, -1) in (0, 1):
        d.settings.cgatt = c.int_arg(0, 1)
        return
    raise bad_parameters()


def _cpas(d, c):
    return ["+CPAS: 0"]                          # 27.007 8.1: ready


def _cclk(d, c):
    if c.form == READ:
        return [f'+CCLK: "{d.now().strftime("%y/%m/%d,%H:%M:%S")}+00"']


HANDLERS = {
    "E": _echo, "V": _verbose, "Q": _quiet, "Z": _reset, "&F": _reset, "I": _ati, "H": _hangup,
    "&C": _accept, "&D": _accept, "&K": _accept, "&W": _accept, "X": _accept, "L": _accept, "M": _accept,
    "S0": _s_register, "S3": _s_register, "S4": _s_register, "S5": _s_register, "S7": _s_register,
    "+IFC": _accept, "+IPR": _accept, "+CHUP": _hangup,
    "+GMI": _identity(lambda d: d.profile.manufacturer), "+CGMI": _identity(lambda d: d.profile.manufacturer),
    "+GMM": _identity(lambda d: d.profile.model), "+CGMM": _identity(lambda d: d.profile.model),
    "+GMR": _identity(lambda d: d.profile.revision),
    "+CGMR": _identity(lambda d: d.profile.revision),
    "+GSN": _identity(lambda d: d.profile.imei), "+CGSN": _identity(lambda d: d.profile.imei),
    "+CIMI": _cimi, "+CCID": _iccid, "+QCCID": _iccid, "+ICCID": _iccid,
    "+CMEE": _cmee, "+CPIN": _cpin, "+QPINC": _qpinc,
    "+CREG": _registration("creg_n"), "+CGREG": _registration("cgreg_n"), "+CEREG": _registration("cereg_n"),
    "+CSQ": _csq, "+COPS": _cops, "+CFUN": _cfun, "+CBC": _cbc, "^CURC": _curc, "+CLAC": _clac,
    "+CPAS": _cpas, "+CCLK": _cclk, "+CGATT": _cgatt, "^PORTSEL": _portsel, "+CLIP": _clip,
}
