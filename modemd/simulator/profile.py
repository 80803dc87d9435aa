"""Identity and radio environment of the simulated modem (data, no behaviour).

The defaults model a Quectel EC25-E on a German network, because that is the module most field reports in
FIELD-NOTES come from. Every string is what the real module prints for the matching command.
"""
from __future__ import annotations

from dataclasses import dataclass


def luhn_check_digit(digits: str) -> str:
    """Luhn digit for IMEI (TS 23.003 6.2.1, Annex B) and ICCID (ITU-T E.118)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 0:          # rightmost payload digit is doubled once the check digit is appended
            n *= 2
            n = n - 9 if n > 9 else n
        total += n
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number.isdigit() and luhn_check_digit(number[:-1]) == number[-1]


@dataclass(frozen=True)
class Operator:
    long_name: str
    short_name: str
    numeric: str          # MCC+MNC
    act: int = 7          # TS 27.007 7.3 <AcT>: 7 = E-UTRAN (LTE)
    stat: int = 2         # +COPS=? <stat>: 2 = current, 1 = available


@dataclass(frozen=True)
class ModemProfile:
    manufacturer: str = "Quectel"
    model: str = "EC25"
    revision: str = "EC25EFAR06A06M4G"
    imei: str = "866758040123453"            # TAC 86675804 (Quectel), valid Luhn
    imsi: str = "262011234567890"
    iccid: str = "89490200001234567892"      # valid Luhn
    pin: str | None = None                   # None: SIM without PIN lock
    puk: str = "12345678"
    smsc: str = "+491710760000"
    operators: tuple[Operator, ...] = (
        Operator("Telekom.de", "TDG", "26201", 7, 2),
        Operator("Vodafone.de", "Vodafone", "26202", 7, 1),
        Operator("o2 - de", "o2 - de", "26203", 7, 1),
    )
    rssi: int = 20                            # +CSQ <rssi> 0..31 (20 = -73 dBm)
    sm_capacity: int = 50                     # EC25 with a typical USIM: "SM",x,50
    lac: str = "1A2B"
    cell_id: str = "01A2B3C4"
    # Seconds the ports are gone after AT+CFUN=1,1. A real EC25 re-enumerates on USB (ports vanish for ~5-10 s);
    # None keeps the reset in place so a daemon that resets on start does not lose its port in unit tests.
    reset_replug_seconds: float | None = None
    # EC25 sends RDY / +CPIN / +QIND: SMS DONE after a reset; only seen if the host had the port open.
    boot_urcs: tuple[str, ...] = ("RDY", "+CFUN: 1", "+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE")
    # False: AT+CNMI answers ERROR and new SMS are stored silently, as on Android phones' ACM modem ports
    # (wammu #58): the host has to poll AT+CMGL.
    announces_sms: bool = True


DEFAULT_PROFILE = ModemProfile()

# `modemd simulate --device NAME`: the identity strings the real devices print, and what they cannot do.
DEVICES = {
    "ec25": DEFAULT_PROFILE,
    "e3372": ModemProfile(manufacturer="huawei", model="E3372", revision="22.328.62.00.143",
                          imei="867223024567890", boot_urcs=("^BOOT:10587398,0,0,0,72", "^SIMST: 1")),
    "android": ModemProfile(manufacturer="samsung", model="SM-G960F", revision="G960FXXU9ETF5",
                            imei="358240051111110", boot_urcs=(), announces_sms=False),
}
