"""Device profiles as data: what differs between modems is a table row, not a code path.

A profile is picked by the model string the modem reports (AT+CGMM) or by USB VID:PID when the port is a USB
device. Everything modem.py does differently per device is read from here, so adding a device is adding a row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    # TS 27.005 3.4.1 AT+CNMI=<mode>,<mt>,<bm>,<ds>,<bfr>: mt=1 stores inbound SMS and announces +CMTI (nothing is
    # lost if we miss the URC: the start-up sweep finds it); ds=1 routes status reports as +CDS.
    cnmi: str | None = "2,1,0,1,0"
    # Commands some devices need after the common init, e.g. Huawei's ^CURC to silence periodic ^RSSI spam.
    extra_init: tuple[str, ...] = ()
    # Devices that never announce new SMS (Android ACM ports) are polled with AT+CMGL instead.
    poll_inbox: bool = False
    # Seconds to wait for the "> " prompt after AT+CMGS, and for +CMGS after Ctrl-Z. TS 27.005 gives no bound;
    # real networks answer in 1-10 s, but a congested cell can take a minute (Quectel EC25 manual: max 120 s).
    prompt_timeout: float = 10.0
    submit_timeout: float = 120.0
    # After PIN entry many SIMs answer CME 14 (SIM busy) for several seconds (python-gsmmodem #10).
    sim_ready_delay: float = 2.0
    model_pattern: str = ""
    usb_ids: tuple[str, ...] = field(default=())

    def matches_model(self, model: str) -> bool:
        return bool(self.model_pattern) and re.search(self.model_pattern, model, re.IGNORECASE) is not None


GENERIC = DeviceProfile(name="generic")

PROFILES: tuple[DeviceProfile, ...] = (
    DeviceProfile(name="quectel", model_pattern=r"^(EC2[015]|EG2[15]|EG9[15]|BG9[56]|EM06|RM5\d\d)",
                  usb_ids=("2c7c:0125", "2c7c:0121", "2c7c:0191", "2c7c:0306")),
    DeviceProfile(name="simcom", model_pattern=r"^(SIM(7[0-9]{3}|800|900)|A76\d\d)",
                  usb_ids=("1e0e:9001", "1e0e:9011", "1e0e:9205")),
    # Huawei sticks send ^RSSI/^MODE/^SRVST every few seconds unless told not to (AT^CURC=0).
    DeviceProfile(name="huawei", model_pattern=r"^(E1[0-9]{2,3}|E3[0-9]{3}|K[0-9]{4}|MS2131)",
                  extra_init=("AT^CURC=0",), usb_ids=("12d1:1001", "12d1:1506", "12d1:1436", "12d1:155e")),
    DeviceProfile(name="sierra", model_pattern=r"^(MC7\d{3}|EM7\d{3})", usb_ids=("1199:9071", "1199:9091")),
    DeviceProfile(name="ublox", model_pattern=r"^(SARA|LARA|TOBY|LISA)", usb_ids=("1546:1102", "1546:1141")),
    # Android phones on an ACM port: partial 27.005 support, no usable +CNMI (wammu #58), so poll the inbox.
    DeviceProfile(name="android", model_pattern=r"^(SM-|GT-|Pixel|Nexus)", cnmi=None, poll_inbox=True),
)


def profile_for_model(model: str) -> DeviceProfile:
    """The first profile whose model pattern matches the +CGMM answer, else the generic one."""
    for profile in PROFILES:
        if profile.matches_model(model):
            return profile
    return GENERIC
