"""udev/70-modemd.rules: syntax, and matching with Debian's own udev engine against a fake sysfs.

`udevadm verify` only exists from systemd 254 (Debian 12 has 252), and `udevadm test` wants a device under /sys.
What works offline: build a fake sysfs tree (USB device -> interface -> usb-serial port -> tty, with the attribute
files and `descriptors` blob that the usb_id builtin reads), then, in a private mount namespace (`unshare -m`),
bind it over /sys, put our rules where udev looks, mount tmpfs over /dev and /run, and run
`SYSTEMD_DEVICE_VERIFY_SYSFS=0 udevadm test --action=add <devpath>`. That runs the real rules engine over all of the
system's rules, so our rule sees exactly what 60-serial.rules' usb_id/path_id imports set (ID_USB_INTERFACE_NUM,
ID_SERIAL_SHORT, ID_PATH_TAG), and udev's own parser reports any syntax problem in our file. Symlinks land in the
namespace's tmpfs /dev, never on the host.

That needs root with CAP_SYS_ADMIN (it works in our CI container); elsewhere those tests skip and only the static
checker below runs. The static checker is ours, not udev's: it checks the key/operator/quoting shape of every line
and that each GOTO has a LABEL; it cannot tell whether a rule matches.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parent.parent / "udev" / "70-modemd.rules"
OPT_IN = "#OPT-IN "
MODEMD_GID = 990


# --- static checks (always run) -------------------------------------------------------------------------------------

MATCH_KEYS = {"ACTION", "DEVPATH", "KERNEL", "KERNELS", "NAME", "SYMLINK", "SUBSYSTEM", "SUBSYSTEMS", "DRIVER",
              "DRIVERS", "ATTR", "ATTRS", "SYSCTL", "ENV", "CONST", "TAG", "TAGS", "TEST", "PROGRAM", "RESULT"}
ASSIGN_KEYS = {"NAME", "SYMLINK", "OWNER", "GROUP", "MODE", "SECLABEL", "ATTR", "SYSCTL", "ENV", "TAG", "RUN",
               "LABEL", "GOTO", "IMPORT", "OPTIONS"}
TOKEN = re.compile(r'\s*([A-Z]+)(?:\{([^}]*)\})?\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')


def rule_lines(text: str, *, opt_in: bool = False) -> list[tuple[int, str]]:
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        if opt_in and line.startswith(OPT_IN):
            line = line[len(OPT_IN):]
        if line.strip() and not line.lstrip().startswith("#"):
            lines.append((number, line))
    return lines


def tokens(line: str) -> list[tuple[str, str | None, str, str]]:
    out, pos = [], 0
    while pos < len(line):
        m = TOKEN.match(line, pos)
        assert m, f"cannot parse from column {pos}: {line[pos:]!r}"
        out.append(m.group(1, 2, 3, 4))
        pos = m.end()
        if m.group(5) == "":
            assert not line[pos:].strip(), f"text after the last key: {line[pos:]!r}"
            break
    return out


@pytest.mark.parametrize("opt_in", [False, True], ids=["shipped", "opt-in-uncommented"])
def test_rules_have_valid_shape(opt_in):
    text = RULES.read_text()
    assert "\\\n" not in text, "no continuation lines: keep each rule on one line"
    labels, gotos = [], []
    for number, line in rule_lines(text, opt_in=opt_in):
        for key, attr, op, value in tokens(line):
            where = f"line {number}: {key}"
            if op in ("==", "!="):
                assert key in MATCH_KEYS, where
            else:
                assert key in ASSIGN_KEYS, where
            if key in ("ATTR", "ATTRS", "ENV"):
                assert attr, f"{where} needs {{name}}"
            if key == "LABEL":
                labels.append(value)
            if key == "GOTO":
                gotos.append(value)
    assert len(labels) == len(set(labels))
    assert set(gotos) <= set(labels), set(gotos) - set(labels)


def test_every_named_port_gets_the_common_tail():
    text = RULES.read_text()
    tail = text[text.index("--- Common tail"):]
    for needle in ('ENV{ID_MM_DEVICE_IGNORE}="1"', 'ENV{ID_MM_PORT_IGNORE}="1"', 'TAG+="systemd"',
                   'GROUP="modemd"', 'MODE="0660"', 'SYMLINK+="modemd/'):
        assert needle in tail, needle


# --- the real udev engine on a fake sysfs ---------------------------------------------------------------------------

@dataclass
class Port:
    name: str                      # test label
    vid: str
    pid: str
    ifnum: int
    serial: str | None = "SN1"
    acm: bool = False              # cdc_acm (tty directly under the interface) or a usb-serial ttyUSB
    interfaces: list[tuple[int, int, int]] = field(default_factory=lambda: [(0xFF, 0xFF, 0xFF)])
    usb_device: bool = False       # test the USB device's own event instead of the tty's


class FakeSysfs:
    """A sysfs tree with just the files udev's sd-device, usb_id and path_id read for USB serial ports."""

    def __init__(self, root: Path):
        self.root = root
        self.pci = "devices/pci0000:00/0000:00:14.0"
        self.next_usb = 2
        self.next_tty = {"ttyUSB": 0, "ttyACM": 0}
        for d in ("bus/usb", "bus/usb-serial", "bus/pci", "class/tty"):
            (root / d).mkdir(parents=True, exist_ok=True)
        self._dir(self.pci, "pci", "DRIVER=xhci_hcd\nPCI_ID=8086:A36D\nPCI_SLOT_NAME=0000:00:14.0\n",
                  vendor="0x8086", device="0xa36d")
        self._dir(f"{self.pci}/usb1", "usb", "DEVTYPE=usb_device\n")

    def _dir(self, rel: str, subsystem: str, uevent: str, **attrs: str | bytes) -> Path:
        d = self.root / rel
        d.mkdir(parents=True, exist_ok=True)
        (d / "uevent").write_text(uevent)
        target = {"tty": "class/tty"}.get(subsystem, f"bus/{subsystem}")
        (d / "subsystem").symlink_to(os.path.relpath(self.root / target, d))
        for name, value in attrs.items():
            if isinstance(value, bytes):
                (d / name).write_bytes(value)
            else:
                (d / name).write_text(value + "\n")
        return d

    def add(self, port: Port) -> str:
        """Creates the device, returns the devpath udevadm test takes (relative to /sys)."""
        usb = f"{self.pci}/usb1/1-{self.next_usb}"
        bus_port = self.next_usb
        self.next_usb += 1
        attrs = dict(idVendor=port.vid, idProduct=port.pid, manufacturer="Vendor", product="Model",
                     bcdDevice="0318", bDeviceClass="00", bConfigurationValue="1", busnum="1", devnum=str(bus_port),
                     descriptors=descriptors(port))
        if port.serial is not None:
            attrs["serial"] = port.serial
        self._dir(usb, "usb", f"DEVTYPE=usb_device\nDRIVER=usb\nPRODUCT={port.vid}/{port.pid}/318\n", **attrs)
        if port.usb_device:
            return "/" + usb
        cls, sub, proto = port.interfaces[0]
        intf = f"{usb}/1-{bus_port}:1.{port.ifnum}"
        self._dir(intf, "usb", f"DEVTYPE=usb_interface\nDRIVER={'cdc_acm' if port.acm else 'option'}\n"
                  f"INTERFACE={cls}/{sub}/{proto}\n", bInterfaceNumber=f"{port.ifnum:02x}",
                  bInterfaceClass=f"{cls:02x}", bInterfaceSubClass=f"{sub:02x}", bInterfaceProtocol=f"{proto:02x}")
        kind = "ttyACM" if port.acm else "ttyUSB"
        n = self.next_tty[kind]
        self.next_tty[kind] += 1
        if port.acm:
            tty = f"{intf}/tty/{kind}{n}"
        else:
            self._dir(f"{intf}/{kind}{n}", "usb-serial", "DRIVER=option1\n", port_number="0")
            tty = f"{intf}/{kind}{n}/tty/{kind}{n}"
        major = 166 if port.acm else 188
        self._dir(tty, "tty", f"MAJOR={major}\nMINOR={n}\nDEVNAME={kind}{n}\n", dev=f"{major}:{n}")
        return "/" + tty


def descriptors(port: Port) -> bytes:
    """The binary `descriptors` file usb_id parses for ID_USB_INTERFACES: device, config, interfaces (+endpoints,
    since usb_id stops when fewer than 9 bytes follow an interface descriptor)."""
    vid, pid = int(port.vid, 16), int(port.pid, 16)
    blob = bytes([18, 1, 0, 2, 0, 0, 0, 64, vid & 0xFF, vid >> 8, pid & 0xFF, pid >> 8, 0x18, 3, 1, 2, 3, 1])
    blob += bytes([9, 2, 0, 0, len(port.interfaces), 1, 0, 0x80, 250])
    for i, (cls, sub, proto) in enumerate(port.interfaces):
        blob += bytes([9, 4, i, 0, 1, cls, sub, proto, 0]) + bytes([7, 5, 0x81 + i, 2, 64, 0, 0])
    return blob


@dataclass
class Result:
    props: dict[str, str]
    log: str

    @property
    def links(self) -> set[str]:
        return {link for link in self.props.get("DEVLINKS", "").split() if link.startswith("/dev/modemd/")}


def can_unshare() -> str | None:
    if not shutil.which("udevadm"):
        return "udevadm not installed (Debian package: udev)"
    if not shutil.which("unshare"):
        return "unshare not installed (util-linux)"
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True)
    if probe.returncode:
        return "cannot make a private mount namespace here (needs root with CAP_SYS_ADMIN): " + \
            probe.stderr.decode(errors="replace").strip()
    return None


@pytest.fixture(scope="module")
def udev_namespace():
    """Skips unless udevadm can run in a private mount namespace here (probed once, when a test first needs it:
    collecting this module starts no process)."""
    reason = can_unshare()
    if reason:
        pytest.skip(reason)


needs_udev = pytest.mark.usefixtures("udev_namespace")


def run_udev(tmp_path: Path, ports: list[Port], *, opt_in: bool = False, extra_rules: dict[str, str] | None = None
             ) -> dict[str, Result]:
    """One namespace, one `udevadm test` per port; returns each port's properties and log."""
    sysfs = FakeSysfs(tmp_path / "sys")
    rules = tmp_path / "rules"
    rules.mkdir()
    text = RULES.read_text()
    if opt_in:
        text = "\n".join(line[len(OPT_IN):] if line.startswith(OPT_IN) else line for line in text.splitlines())
    (rules / RULES.name).write_text(text)
    for name, body in (extra_rules or {}).items():
        (rules / name).write_text(body)
    group = tmp_path / "group"
    group.write_text(Path("/etc/group").read_text() + f"modemd:x:{MODEMD_GID}:\n")
    out = tmp_path / "out"
    out.mkdir()
    script = ["set -e", "mount --make-rprivate /", f"mount --bind {sysfs.root} /sys",
              f"mount --bind {group} /etc/group", "mount -t tmpfs tmpfs /dev", "mount -t tmpfs tmpfs /run",
              "mkdir -p /run/udev/rules.d", f"cp {rules}/* /run/udev/rules.d/",
              # an empty /etc/udev/rules.d, so rules installed on this host (even ours) cannot interfere
              f"if [ -d /etc/udev/rules.d ]; then mount --bind {out} /etc/udev/rules.d; fi",
              "export SYSTEMD_DEVICE_VERIFY_SYSFS=0", "set +e"]
    for i, port in enumerate(ports):
        devpath = sysfs.add(port)
        script.append(f"udevadm test --action=add /sys{devpath} > {out}/{i}.out 2> {out}/{i}.log")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", "\n".join(script)], capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    results = {}
    for i, port in enumerate(ports):
        stdout = (out / f"{i}.out").read_text(errors="replace")
        props = dict(line.split("=", 1) for line in stdout.splitlines()
                     if re.match(r"^[A-Z_.][A-Z0-9_.]*=", line))
        results[port.name] = Result(props, (out / f"{i}.log").read_text(errors="replace"))
    return results


def assert_named(result: Result, link: str) -> None:
    assert result.links == {"/dev/modemd/" + link}, (result.links, result.log[-3000:])
    assert result.props.get("ID_MM_DEVICE_IGNORE") == "1"
    assert result.props.get("ID_MM_PORT_IGNORE") == "1"
    assert "systemd" in result.props.get("TAGS", "").split(":")
    assert re.search(rf"70-modemd\.rules:\d+ GROUP {MODEMD_GID}\b", result.log), result.log[-2000:]
    assert re.search(r"70-modemd\.rules:\d+ MODE 0660\b", result.log)


def assert_untouched(result: Result) -> None:
    assert not result.links, result.links
    assert "MODEMD_MODEL" not in result.props
    assert "ID_MM_PORT_IGNORE" not in result.props
    assert "70-modemd.rules" not in result.log.split("Reading rules file: /run/udev/rules.d/70-modemd.rules", 1)[-1]


QUECTEL = [Port(f"ec25-if{i:02d}", "2c7c", "0125", i, serial="EC25SN") for i in range(4)]
KNOWN = QUECTEL + [
    Port("ec21-if02", "2c7c", "0121", 2, serial="EC21SN"),
    Port("sim7600-if02", "1e0e", "9001", 2, serial="SIMSN"),
    Port("sim7600-if03", "1e0e", "9001", 3, serial="SIMSN"),
    Port("a7600-if02", "1e0e", "9011", 2, serial="ASN"),
    Port("a7600-if04", "1e0e", "9011", 4, serial="ASN"),
    Port("mc7455-if02", "1199", "9071", 2, serial="SWSN"),
    Port("mc7455-if03", "1199", "9071", 3, serial="SWSN"),
    Port("ublox-if00", "1546", "1102", 0, serial=None, acm=True, interfaces=[(2, 2, 1)]),
    Port("ublox-if02", "1546", "1102", 2, serial=None, acm=True, interfaces=[(2, 2, 1)]),
    Port("ublox1141-if02", "1546", "1141", 2, serial="UB", acm=True, interfaces=[(2, 2, 1)]),
    Port("e173-if00", "12d1", "1001", 0, serial=None),
    Port("e173-if02", "12d1", "1001", 2, serial=None),
    Port("e3372-if02", "12d1", "1506", 2, serial="HW"),
    Port("ftdi", "0403", "6001", 0, serial="FT1"),
    Port("cp210x", "10c4", "ea60", 0, serial="0001"),
    Port("ch340", "1a86", "7523", 0, serial=None),
    Port("android", "04e8", "6860", 1, serial="R58M", acm=True, interfaces=[(2, 2, 1), (10, 0, 0)]),
    Port("ec25-usbdev", "2c7c", "0125", 0, usb_device=True),
    Port("ftdi-usbdev", "0403", "6001", 0, usb_device=True),
]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory, udev_namespace):
    return run_udev(tmp_path_factory.mktemp("udev"), KNOWN)


@needs_udev
def test_udev_parses_our_file_without_complaint(shipped):
    # udev logs parse problems at load time as "<file>:<line> ..." (an invalid key, a GOTO without LABEL,
    # an unknown group); the lines it logs per device while applying rules start with "<device>: ".
    complaints = [line for line in shipped["ftdi"].log.splitlines() if line.startswith("/run/udev/rules.d/70-modemd")]
    assert complaints == []
    assert "Reading rules file: /run/udev/rules.d/70-modemd.rules" in shipped["ftdi"].log


@needs_udev
def test_quectel_ec25_only_if02_is_named(shipped):
    assert shipped["ec25-if02"].props["ID_USB_INTERFACE_NUM"] == "02"    # set by 60-serial.rules' usb_id import
    assert_named(shipped["ec25-if02"], "ec25-EC25SN")
    for other in ("ec25-if00", "ec25-if01", "ec25-if03"):
        assert_untouched(shipped[other])


@needs_udev
@pytest.mark.parametrize("port, link", [
    ("ec21-if02", "ec21-EC21SN"),
    ("sim7600-if02", "sim7600-SIMSN"),
    ("a7600-if04", "a7600-ASN"),
    ("mc7455-if03", "mc7455-SWSN"),
    ("e3372-if02", "huawei-e3372-HW-if02"),
    ("ublox1141-if02", "ublox-1141-UB-if02"),
])
def test_known_modem_at_port_is_named(shipped, port, link):
    assert_named(shipped[port], link)


@needs_udev
@pytest.mark.parametrize("port", ["sim7600-if03", "a7600-if02", "mc7455-if02", "ublox-if02", "ftdi", "cp210x",
                                  "ch340", "android"])
def test_other_ports_and_generic_bridges_are_left_alone(shipped, port):
    assert_untouched(shipped[port])


@needs_udev
def test_device_without_serial_number_is_named_by_usb_path(shipped):
    tag = shipped["ublox-if00"].props["ID_PATH_TAG"]
    assert "ID_SERIAL_SHORT" not in shipped["ublox-if00"].props
    assert_named(shipped["ublox-if00"], f"ublox-{tag}")
    # Huawei: every port gets a link with its interface number, to be probed for the AT one.
    assert_named(shipped["e173-if00"], f"huawei-e173-{shipped['e173-if00'].props['ID_PATH_TAG']}-if00")
    assert_named(shipped["e173-if02"], f"huawei-e173-{shipped['e173-if02'].props['ID_PATH_TAG']}-if02")


@needs_udev
def test_modemmanager_is_kept_off_the_whole_modem(shipped):
    assert shipped["ec25-usbdev"].props.get("ID_MM_DEVICE_IGNORE") == "1"
    assert "ID_MM_DEVICE_IGNORE" not in shipped["ftdi-usbdev"].props


@needs_udev
def test_opt_in_rules_name_bridges_and_phones_when_uncommented(tmp_path):
    ports = [p for p in KNOWN if p.name in ("cp210x", "ch340", "android", "ftdi")]
    results = run_udev(tmp_path, ports, opt_in=True)
    assert results["android"].props["ID_USB_INTERFACES"] == ":020201:0a0000:"
    assert_named(results["cp210x"], "sim800-cp210x-0001")
    assert_named(results["ch340"], f"sim800-ch340-{results['ch340'].props['ID_PATH_TAG']}")
    assert_named(results["android"], "android-R58M")
    assert_untouched(results["ftdi"])


@needs_udev
def test_readme_recipe_for_ones_own_modem(tmp_path):
    # The recipe in udev/README.md: a 69-modemd-local.rules that only sets MODEMD_MODEL; our file does the rest.
    local = textwrap.dedent('''\
        SUBSYSTEM=="tty", ATTRS{idVendor}=="1bc7", ATTRS{idProduct}=="1201", ATTRS{serial}=="TL123", ENV{ID_USB_INTERFACE_NUM}=="04", ENV{MODEMD_MODEL}="le910"
        ''')
    ports = [Port("telit-if04", "1bc7", "1201", 4, serial="TL123"), Port("telit-if00", "1bc7", "1201", 0,
                                                                         serial="TL123"),
             Port("telit-other", "1bc7", "1201", 4, serial="OTHER")]
    results = run_udev(tmp_path, ports, extra_rules={"69-modemd-local.rules": local})
    assert_named(results["telit-if04"], "le910-TL123")
    assert_untouched(results["telit-if00"])
    assert_untouched(results["telit-other"])
