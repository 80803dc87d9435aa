"""The simulated modem, driven like a real one: pyserial on the pty link, bytes in, bytes out.

The simulator runs on its own loop in a thread (BackgroundSimulator), so these tests are plain blocking code, the
way minicom or gammu would talk to /dev/ttyUSB2.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import serial

from modemd.codec import pdu
from modemd.simulator import BackgroundSimulator, ControlClient, ControlError, Dialect, Faults
from modemd.simulator.actions import Out
from modemd.simulator.parser import parse_command_line
from modemd.simulator.profile import DEFAULT_PROFILE, luhn_valid
from kit import wait_for

pytestmark = pytest.mark.timeout(20)
FINAL = re.compile(rb"\r\n(OK|ERROR|\+CME ERROR: [^\r]*|\+CMS ERROR: [^\r]*)\r\n")
NUMBER = "+4915112345678"


class Term:
    """A terminal program in a few lines: write a command, read until its final result code (or the prompt)."""

    def __init__(self, path: str, timeout: float = 3.0):
        self.ser = serial.Serial(path, 115200, timeout=0.05)
        self.timeout = timeout
        self.buffer = b""

    def read_until(self, pattern: re.Pattern | bytes, timeout: float | None = None) -> bytes:
        pattern = re.compile(re.escape(pattern)) if isinstance(pattern, bytes) else pattern
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            match = pattern.search(self.buffer)
            if match:
                out, self.buffer = self.buffer[:match.end()], self.buffer[match.end():]
                return out
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {pattern.pattern!r} in {self.buffer!r}")
            self.buffer += self.ser.read(self.ser.in_waiting or 1)     # returns as soon as a byte is there

    def cmd(self, line: str, timeout: float | None = None) -> str:
        self.ser.write(line.encode("latin-1") + b"\r")
        return self.read_until(FINAL, timeout).decode("latin-1")

    def send_pdu(self, part: pdu.SubmitPart, timeout: float | None = None) -> str:
        self.ser.write(f"AT+CMGS={part.tpdu_length}\r".encode())
        self.read_until(b"\r\n> ")
        self.ser.write(part.hex.encode() + b"\x1a")
        return self.read_until(FINAL, timeout).decode("latin-1")

    def fence(self) -> str:
        """Everything the modem sent before the answer to a plain "AT", and that answer. The simulator handles its
        input in order and sends the URCs an input caused before it reads the next: what an earlier command or
        injection made it send is all in here, with no waiting to see whether more comes."""
        return self.cmd("AT")

    def close(self) -> None:
        self.ser.close()


@pytest.fixture
def sim(tmp_path):
    with BackgroundSimulator(link=str(tmp_path / "modem0"), handset_path=str(tmp_path / "handset.jsonl"),
                             control=str(tmp_path / "control.sock")) as s:
        yield s


@pytest.fixture
def term(sim):
    t = Term(sim.port)
    t.cmd("ATE0")
    yield t
    t.close()


def final(response: str) -> str:
    return FINAL.search(response.encode("latin-1")).group(1).decode()


# ------------------------------------------------------------------------------------------------ pure parts
@pytest.mark.parametrize("body, names", [
    ("+CMEE=1;+cmgf=0", ["+CMEE", "+CMGF"]),
    ("E0V1&FS0=0", ["E", "V", "&F", "S0"]),
    ('+CPMS="SM","SM","SM"', ["+CPMS"]),
    ("", []),
])
def test_v250_command_line_splits(body, names):
    assert [c.name for c in parse_command_line(body)] == names


def test_profile_numbers_pass_luhn():
    assert luhn_valid(DEFAULT_PROFILE.imei) and len(DEFAULT_PROFILE.imei) == 15
    assert luhn_valid(DEFAULT_PROFILE.iccid)


def test_dialect_is_pure_bytes_in_actions_out():
    d = Dialect()
    out = b"".join(a.data for a in d.feed(b"at+cgmi\r") if isinstance(a, Out))
    assert out == b"at+cgmi\r\r\nQuectel\r\n\r\nOK\r\n"      # echo on at power-up, lower case accepted


# ------------------------------------------------------------------------------------------------ basics
def test_identity(term):
    assert "Quectel" in term.cmd("AT+CGMI") and "Quectel" in term.cmd("AT+GMI")
    assert "EC25" in term.cmd("AT+CGMM")
    assert "Revision: EC25" in term.cmd("ATI")
    imei = re.search(r"\d{15}", term.cmd("AT+CGSN")).group()
    assert luhn_valid(imei) and imei == re.search(r"\d{15}", term.cmd("AT+GSN")).group()
    assert re.search(r"\r\n\d{15}\r\n", term.cmd("AT+CIMI"))
    for name in ("+CCID", "+QCCID", "+ICCID"):
        assert f"{name}: 89" in term.cmd(f"AT{name}")


def test_echo_default_on_off_and_atz(sim):
    t = Term(sim.port)
    assert t.cmd("AT").startswith("AT\r\r\nOK")
    assert t.cmd("ATE0").startswith("ATE0\r")          # the line that turns echo off is still echoed
    assert t.cmd("AT") == "\r\nOK\r\n"
    t.cmd("ATZ")
    assert t.cmd("AT").startswith("AT\r")
    t.close()


def test_concatenated_commands_and_unknown(term):
    assert final(term.cmd("AT+CMEE=1;+CMGF=1")) == "OK"
    response = term.cmd("AT+CMEE?;+CMGF?")
    assert "+CMEE: 1" in response and "+CMGF: 1" in response
    assert final(term.cmd("AT+NOSUCH")) == "ERROR"
    assert final(term.cmd("AT+CSQ")) == "OK" and "+CSQ: 20,99" in term.cmd("AT+CSQ")


@pytest.mark.parametrize("cmee, expected", [(0, "ERROR"), (1, "+CME ERROR: 3"),
                                            (2, "+CME ERROR: operation not allowed")])
def test_cmee_forms(term, cmee, expected):
    term.cmd(f"AT+CMEE={cmee}")
    assert final(term.cmd('AT+CPIN="1234"')) == expected      # SIM already unlocked: not allowed


def test_pin_flow_three_wrong_then_puk(tmp_path):
    with BackgroundSimulator(link=str(tmp_path / "m"), faults=Faults(pin="4321")) as s:
        t = Term(s.port)
        t.cmd("ATE0;+CMEE=1")
        assert "+CPIN: SIM PIN" in t.cmd("AT+CPIN?")
        assert final(t.cmd("AT+CIMI")) == "+CME ERROR: 11"
        assert final(t.cmd("AT+CMGL=4")) == "+CMS ERROR: 311"
        for _ in range(3):
            assert final(t.cmd('AT+CPIN="0000"')) == "+CME ERROR: 16"
        assert "+CPIN: SIM PUK" in t.cmd("AT+CPIN?")
        assert final(t.cmd("AT+CIMI")) == "+CME ERROR: 12"
        t.cmd("AT+CMEE=2")
        assert final(t.cmd("AT+CIMI")) == "+CME ERROR: SIM PUK required"
        assert final(t.cmd('AT+CPIN="12345678","1111"')) == "OK"
        assert "+CPIN: READY" in t.cmd("AT+CPIN?")
        t.close()


def test_correct_pin_unlocks(tmp_path):
    with BackgroundSimulator(link=str(tmp_path / "m"), faults=Faults(pin="4321")) as s:
        t = Term(s.port)
        assert final(t.cmd('AT+CPIN="4321"')) == "OK"
        assert "+CPIN: READY" in t.cmd("AT+CPIN?")
        t.close()


# ------------------------------------------------------------------------------------------------ sending
@pytest.mark.parametrize("text, encoding, parts", [
    ("Hello", "gsm7", 1),
    ("Grüße [x] {y} ~ \\ ^ | €", "gsm7", 1),
    ("Привет, мир! " * 6, "ucs2", 2),
    ("emoji 😀👍🏽 family 👨‍👩‍👧", "ucs2", 1),
    ("A" * 153 + "€" * 100, "gsm7", 3),
])
def test_cmgs_pdu_reaches_handset_exactly(sim, term, text, encoding, parts):
    submits = pdu.encode_submit(NUMBER, text, status_report=True, validity=3600, concat_ref=77)
    responses = [term.send_pdu(p) for p in submits]
    refs = [int(re.search(r"\+CMGS: (\d+)", r).group(1)) for r in responses]
    [sms] = sim.modem.handset.messages()
    assert (sms.to, sms.text, sms.parts, sms.encoding) == (NUMBER, text, parts, encoding)
    assert sms.message_references == refs and refs == list(range(refs[0], refs[0] + parts))
    assert sms.status_report_requested and sms.validity == 3600


def test_message_reference_wraps_mod_256(sim, term):
    sim.call(setattr, sim.modem.dialect.sim, "last_mr", 254)
    refs = [re.search(r"\+CMGS: (\d+)", term.send_pdu(pdu.encode_submit(NUMBER, "x")[0])).group(1)
            for _ in range(3)]
    assert refs == ["255", "0", "1"]


def test_text_mode_send(sim, term):
    term.cmd('AT+CMGF=1;+CSCS="IRA"')
    term.ser.write(f'AT+CMGS="{NUMBER}"\r'.encode())
    term.read_until(b"\r\n> ")
    term.ser.write(b"Hello [text] mode\x1a")
    assert "+CMGS:" in term.read_until(FINAL).decode()
    [sms] = sim.modem.handset.messages()
    assert (sms.to, sms.text, sms.parts) == (NUMBER, "Hello [text] mode", 1)


def test_text_mode_ucs2_charset(sim, term):
    term.cmd('AT+CMGF=1;+CSCS="UCS2";+CSMP=17,167,0,8')
    term.ser.write(f'AT+CMGS="{NUMBER.encode("utf-16-be").hex()}"\r'.encode())
    term.read_until(b"> ")
    term.ser.write("Ж€😀".encode("utf-16-be").hex().encode() + b"\x1a")
    term.read_until(FINAL)
    [sms] = sim.modem.handset.messages()
    assert (sms.to, sms.text, sms.encoding) == (NUMBER, "Ж€😀", "ucs2")


def test_escape_cancels_send(sim, term):
    term.ser.write(b"AT+CMGS=20\r")
    term.read_until(b"\r\n> ")
    term.ser.write(b"0011\x1b")
    assert final(term.read_until(FINAL).decode()) == "OK"
    assert final(term.cmd("AT")) == "OK"
    assert sim.modem.handset.messages() == []


@pytest.mark.parametrize("length_delta, payload", [(1, None), (-1, None), (0, "00ZZ"), (0, "001")])
def test_bad_pdu_gives_cms_304(sim, term, length_delta, payload):
    part = pdu.encode_submit(NUMBER, "hello")[0]
    term.ser.write(f"AT+CMGS={part.tpdu_length + length_delta}\r".encode())
    term.read_until(b"> ")
    term.ser.write((payload or part.hex).encode() + b"\x1a")
    assert final(term.read_until(FINAL).decode()) == "+CMS ERROR: 304"
    assert sim.modem.handset.messages() == []


def test_prompt_is_not_followed_by_crlf(sim):
    t = Term(sim.port)
    t.ser.write(b"ATE0\r")
    t.read_until(FINAL)
    t.ser.write(b"AT+CMGS=10\r")
    assert t.read_until(b"> ") == b"\r\n> "
    t.ser.write(b"\x1b")
    assert t.read_until(FINAL) == b"\r\nOK\r\n"      # the answer to ESC, and nothing before it after the prompt
    t.close()


# ------------------------------------------------------------------------------------------------ receiving
def test_inbound_stored_listed_read_deleted(sim, term):
    long_text = "Zusammengesetzt " * 12
    indices = sim.call(sim.modem.inject_sms, "+4917099999999", "first")
    indices += sim.call(sim.modem.inject_sms, "+4917088888888", long_text)
    assert indices == [0, 1, 2]                        # EC25 numbers SIM locations from 0
    urcs = term.read_until(b'+CMTI: "SM",2\r\n').decode()
    assert re.findall(r'\+CMTI: "SM",(\d)', urcs) == ["0", "1", "2"]
    listing = term.cmd("AT+CMGL=4")
    entries = re.findall(r"\+CMGL: (\d+),(\d),,(\d+)\r\n([0-9A-F]+)", listing)
    assert [(i, s) for i, s, _, _ in entries] == [("0", "0"), ("1", "0"), ("2", "0")]
    decoded = [pdu.decode_deliver(h, int(n)) for _, _, n, h in entries]
    assert decoded[0].text == "first" and decoded[1].text + decoded[2].text == long_text
    assert "+CMGL:" not in term.cmd("AT+CMGL=0")       # listing marked them read (27.005 3.4.2)
    assert "+CMGR: 1,," in term.cmd("AT+CMGR=0")
    assert final(term.cmd("AT+CMGD=0")) == "OK"
    assert final(term.cmd("AT+CMGR=0")) == "OK" and "+CMGR" not in term.cmd("AT+CMGR=0")
    assert final(term.cmd("AT+CMGR=99")) == "+CMS ERROR: 321"
    term.cmd("AT+CMGD=0,4")
    assert "+CMGL" not in term.cmd("AT+CMGL=4")


def test_inbound_out_of_order_and_duplicate(sim, term):
    indices = sim.call(sim.modem.inject_sms, "+4917000000001", "x" * 400, order=[3, 1, 2], duplicate=1)
    assert len(indices) == 4
    listing = term.cmd("AT+CMGL=4")
    seqs = [pdu.decode_deliver(h, int(n)).concat.seq
            for n, h in re.findall(r"\+CMGL: \d+,\d,,(\d+)\r\n([0-9A-F]+)", listing)]
    assert seqs == [3, 1, 2, 1]


def test_text_mode_list(sim, term):
    sim.call(sim.modem.inject_sms, "+4917099999999", "plain text")
    term.read_until(b"+CMTI")
    listing = term.cmd('AT+CMGF=1;+CSCS="IRA";+CMGL="ALL"')
    assert '+CMGL: 0,"REC UNREAD","+4917099999999",,"' in listing and "\r\nplain text\r\n" in listing


def test_cnmi_routes_cmt_and_cds(sim, term):
    term.cmd("AT+CNMI=2,2,0,1,0")
    assert sim.call(sim.modem.inject_sms, "+4917012345678", "routed") == []
    head, hexpdu = re.search(r"\+CMT: ,(\d+)\r\n([0-9A-F]+)\r\n", term.read_until(re.compile(
        rb"\+CMT: ,\d+\r\n[0-9A-F]+\r\n")).decode()).groups()
    assert pdu.decode_deliver(hexpdu, int(head)).text == "routed"
    sim.call(sim.modem.inject_status_report, 42, NUMBER, 0)
    length, hexpdu = re.search(r"\+CDS: (\d+)\r\n([0-9A-F]+)\r\n", term.read_until(re.compile(
        rb"\+CDS: \d+\r\n[0-9A-F]+\r\n")).decode()).groups()
    report = pdu.decode_status_report(hexpdu, int(length))
    assert (report.message_reference, report.recipient, report.status) == (42, NUMBER, 0)
    term.cmd("AT+CNMI=2,1,0,2,0")
    index = sim.call(sim.modem.inject_status_report, 43, NUMBER, 0)
    assert f'+CDSI: "SM",{index}\r\n' in term.read_until(re.compile(rb'\+CDSI: "SM",\d+\r\n')).decode()


def test_cnmi_mode_0_holds_indications_until_mode_2(sim, term):
    term.cmd("AT+CNMI=0,1,0,0,0")
    sim.call(sim.modem.inject_sms, "+4917012345678", "held")
    assert "+CMTI" not in term.fence()
    assert '+CMTI: "SM",0' in term.cmd("AT+CNMI=2,1,0,0,0") + term.fence()


def test_cnma_only_when_expected(term):
    term.cmd("AT+CMEE=1")
    assert final(term.cmd("AT+CNMA")) == "+CMS ERROR: 340"


# ------------------------------------------------------------------------------------------------ the port
def test_client_close_and_reopen_keeps_serving(sim):
    for _ in range(3):
        t = Term(sim.port)
        assert final(t.cmd("AT")) == "OK"
        t.close()


def test_vanish_and_reappear_gives_new_pts(sim, tmp_path):
    t = Term(sim.port)
    t.cmd("ATE0")
    old_pts = os.readlink(sim.port)
    sim.call(sim.modem.vanish)
    assert not os.path.lexists(sim.port)
    with pytest.raises(serial.SerialException):
        t.ser.write(b"AT\r")
        t.ser.read(10)
    t.ser.close()
    sim.call(sim.modem.reappear)
    new_pts = os.readlink(sim.port)
    assert new_pts != old_pts and new_pts.startswith("/dev/pts/")
    t = Term(sim.port)
    assert t.cmd("AT").startswith("AT\r")               # a replugged modem is freshly powered: echo on
    t.close()


def test_vanish_with_seconds_comes_back_by_itself(sim):
    sim.call(sim.modem.vanish, 0.3)
    assert not os.path.lexists(sim.port)
    wait_for(lambda: os.path.lexists(sim.port), timeout=3)
    t = Term(sim.port)
    assert final(t.cmd("AT")) == "OK"
    t.close()


def test_cfun_reset_replugs_when_profile_says_so(tmp_path):
    from dataclasses import replace
    with BackgroundSimulator(link=str(tmp_path / "m"),
                             profile=replace(DEFAULT_PROFILE, reset_replug_seconds=0.3)) as s:
        t = Term(s.port)
        old = os.readlink(s.port)
        assert final(t.cmd("AT+CFUN=1,1")) == "OK"
        wait_for(lambda: not os.path.lexists(s.port), timeout=3, interval=0.01)     # unplugged ...
        wait_for(lambda: os.path.lexists(s.port), timeout=3)                        # ... and back
        assert os.readlink(s.port) != old
        t.ser.close()


# ------------------------------------------------------------------------------------------------ faults
def test_network_delay(sim, term):
    sim.modem.faults.network_delay = 0.5
    start = time.monotonic()
    assert "+CMGS:" in term.send_pdu(pdu.encode_submit(NUMBER, "slow")[0])
    assert time.monotonic() - start >= 0.5


def test_cms_errors_consumed_one_per_send(sim, term):
    sim.modem.faults.cms_errors = [42, 500]
    part = pdu.encode_submit(NUMBER, "x")[0]
    assert final(term.send_pdu(part)) == "+CMS ERROR: 42"
    assert final(term.send_pdu(part)) == "+CMS ERROR: 500"
    assert "+CMGS:" in term.send_pdu(part)
    assert len(sim.modem.handset.messages()) == 1


def test_no_answer_swallows_everything(sim, term, monkeypatch):
    fed = bytearray()
    feed = sim.modem.dialect.feed

    def recorded(data):
        fed.extend(data)
        return feed(data)
    monkeypatch.setattr(sim.modem.dialect, "feed", recorded)
    sim.modem.faults.no_answer = True
    term.ser.write(b"AT\r")
    wait_for(lambda: fed.endswith(b"AT\r"), timeout=3)      # the modem read it (and, hung, forgot it)
    sim.modem.faults.no_answer = False
    # The first thing to come back is the answer to the next command: nothing answered the one it swallowed.
    assert term.cmd("AT+CGMI") == "\r\nQuectel\r\n\r\nOK\r\n"
    assert final(term.cmd("AT")) == "OK"


def test_garbage_between_responses(sim, term):
    sim.modem.faults.garbage = True
    term.cmd("AT")
    term.cmd("AT")
    assert "\x00" in term.fence()                       # what came after the second answer


def test_urc_storm(sim, term):
    sim.modem.faults.urc_storm = 3
    response = term.cmd("AT+CSQ") + term.fence()
    assert response.count("^RSSI") >= 2 and "+CSQ: 20,99" in response


def test_registration_change_urc_and_send_refused(sim, term):
    term.cmd("AT+CMEE=1;+CREG=1")
    sim.call(sim.modem.set_fault, "registration", 2)
    assert "+CREG: 2" in term.read_until(b"+CREG: 2\r\n").decode()
    assert "+CREG: 1,2" in term.cmd("AT+CREG?")
    assert final(term.send_pdu(pdu.encode_submit(NUMBER, "x")[0])) == "+CMS ERROR: 331"
    sim.call(sim.modem.set_fault, "registration", 5)
    term.read_until(b"+CREG: 5")
    assert "+CMGS:" in term.send_pdu(pdu.encode_submit(NUMBER, "x")[0])


def test_storage_full(sim, term):
    term.cmd("AT+CMEE=1")
    sim.modem.faults.storage_full = True
    assert sim.call(sim.modem.inject_sms, "+4917000000002", "nowhere to go") == []
    assert "+CMTI" not in term.fence()
    assert '"SM",50,50' in term.cmd("AT+CPMS?")
    part = pdu.encode_submit(NUMBER, "draft")[0]
    term.ser.write(f"AT+CMGW={part.tpdu_length}\r".encode())
    term.read_until(b"> ")
    term.ser.write(part.hex.encode() + b"\x1a")
    assert final(term.read_until(FINAL).decode()) == "+CMS ERROR: 322"
    sim.modem.faults.storage_full = False
    response = term.cmd("AT") + term.fence()        # the network retries once there is room
    assert '+CMTI: "SM",0' in response


def test_byte_by_byte(sim, term):
    sim.modem.faults.byte_by_byte = True
    assert "Quectel" in term.cmd("AT+CGMI")


def test_urc_inside_response(sim, term):
    sim.modem.faults.urc_inside_response = True
    sim.modem.faults.network_delay = 0.4
    part = pdu.encode_submit(NUMBER, "x")[0]
    term.ser.write(f"AT+CMGS={part.tpdu_length}\r".encode())
    term.read_until(b"> ")
    term.ser.write(part.hex.encode() + b"\x1a")
    wait_for(lambda: sim.modem.dialect.prompt is None, timeout=3, interval=0.005)   # the message is in ...
    sim.call(sim.modem.send_urc, "^RSSI: 9")               # ... so this arrives while the network is busy
    response = term.read_until(FINAL).decode()
    assert re.search(r"\+CMGS: \d+\r\n\r\n\^RSSI: 9\r\n\r\nOK", response)


def test_sim_state_fault(sim, term):
    term.cmd("AT+CMEE=1")
    sim.modem.faults.sim_state = "SIM PIN"
    assert "+CPIN: SIM PIN" in term.cmd("AT+CPIN?")
    assert final(term.cmd('AT+CPIN="1234"')) == "OK"
    assert "+CPIN: READY" in term.cmd("AT+CPIN?")          # edge-triggered: the fault does not re-lock


def test_auto_status_report(sim, term):
    term.cmd("AT+CNMI=2,1,0,1,0")
    sim.modem.faults.auto_status_report = 0.1
    mr = int(re.search(r"\+CMGS: (\d+)", term.send_pdu(pdu.encode_submit(NUMBER, "x")[0])).group(1))
    length, hexpdu = re.search(rb"\+CDS: (\d+)\r\n([0-9A-F]+)", term.read_until(re.compile(
        rb"\+CDS: \d+\r\n[0-9A-F]+\r\n"))).groups()
    assert pdu.decode_status_report(hexpdu.decode(), int(length)).message_reference == mr


# ------------------------------------------------------------------------------------------------ control
def test_control_socket_ops(sim, tmp_path, term):
    client = ControlClient(str(tmp_path / "control.sock"))
    assert client.request("ping") == {"pong": True}
    assert client.fault("network_delay", 0.01)["faults"]["network_delay"] == 0.01
    assert client.inject_sms("+4917000000003", "via control") == [0]
    term.read_until(b"+CMTI")
    client.request("urc", line="^RSSI: 5")
    term.read_until(b"^RSSI: 5")
    term.cmd("AT+CNMI=2,1,0,1,0")
    assert client.inject_status_report(7, NUMBER, 0) is None
    term.read_until(b"+CDS:")
    term.send_pdu(pdu.encode_submit(NUMBER, "recorded")[0])
    assert client.handset()[0]["text"] == "recorded"
    state = client.state()
    assert state["sim"] == "READY" and state["stored"] == [0] and state["faults"]["network_delay"] == 0.01
    client.request("vanish")
    assert not client.state()["present"]
    assert client.request("reappear")["pts"].startswith("/dev/pts/")
    with pytest.raises(ControlError):
        client.fault("no_such_fault", 1)
    with pytest.raises(ControlError):
        client.request("explode")


def test_handset_file_is_json_lines(sim, term, tmp_path):
    term.send_pdu(pdu.encode_submit(NUMBER, "line one")[0])
    import json
    [record] = [json.loads(line) for line in (tmp_path / "handset.jsonl").read_text().splitlines()]
    assert {"to", "text", "parts", "encoding", "time", "message_references", "status_report_requested",
            "validity"} <= set(record)


# ------------------------------------------------------------------------------------------------ the process
def test_cli_runs_until_sigterm(tmp_path):
    link, handset = tmp_path / "cli0", tmp_path / "h.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "modemd.simulator", "--link", str(link), "--handset",
                             str(handset), "--control", str(tmp_path / "c.sock")],
                            stdout=subprocess.PIPE, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        assert str(link) in lines[0] and str(handset) in lines[1]
        t = Term(str(link))
        assert final(t.cmd("AT")) == "OK"
        t.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
        assert not link.exists()
    finally:
        proc.kill()
        proc.wait()


# ------------------------------------------------------------------------------------------------ robustness, asyncio
from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=40) | st.sampled_from(
    [b"AT+CMGS=12\r", b"AT+CMGF=1\r", b'AT+CMGS="+49"\r', b"\x1a", b"\x1b", b"\r", b"AT+CPIN=\"1\",\"2\"\r",
     b"AT+CNMI=0,2,0,2,1\r", b"AT+CMGL=4\r", b"ATV0Q0E0\r", b"A/", b"AT+CMGW=20\r", b"AT+CFUN=1,1\r"]), max_size=25))
def test_dialect_never_crashes_on_arbitrary_input(chunks):
    d = Dialect()
    d.inject_sms("+4917000000000", "x" * 200)
    for chunk in chunks:
        d.feed(chunk)                     # must not raise, whatever the line noise or command order


def test_v0_numeric_results_and_repeat_last_line():
    d = Dialect()
    out = lambda data: b"".join(a.data for a in d.feed(data) if isinstance(a, Out))  # noqa: E731
    assert out(b"ATE0V0\r") == b"ATE0V0\r0\r"
    assert out(b"AT+CGMI\r") == b"Quectel\r\n0\r"
    assert out(b"A/") == b"Quectel\r\n0\r"                   # V.250 6.2.1: A/ repeats, no <CR> needed


async def test_in_process_asyncio_client(tmp_path):
    """SimulatedModem in the test's own loop, a pyserial-asyncio client on the same loop (how modemd uses it)."""
    import asyncio

    import serial_asyncio_fast

    from modemd.simulator import SimulatedModem
    modem = SimulatedModem(link=str(tmp_path / "ttyUSB2"))
    await modem.start()
    try:
        reader, writer = await serial_asyncio_fast.open_serial_connection(url=modem.port, baudrate=115200)
        writer.write(b"ATE0;+CGMM\r")
        data = b""
        while b"OK\r\n" not in data:
            data += await asyncio.wait_for(reader.read(100), 2)
        assert b"\r\nEC25\r\n" in data
        writer.close()
    finally:
        await modem.stop()


def test_cpms_set_answers_all_three_stores_and_cgatt_follows_registration(sim, term):
    # TS 27.005 3.2.2: +CPMS: <used1>,<total1>,<used2>,<total2>,<used3>,<total3>, however many stores were given.
    assert term.cmd('AT+CPMS="SM","SM"').split("\r\n")[1] == "+CPMS: 0,50,0,50,0,50"
    assert "+CGATT: 1" in term.cmd("AT+CGATT?")            # TS 27.007 10.1.9
    sim.modem.set_fault("registration", 2)
    assert "+CGATT: 0" in term.cmd("AT+CGATT?")
    sim.modem.set_fault("registration", 1)
    assert final(term.cmd("AT+CGATT=0")) == "OK" and "+CGATT: 0" in term.cmd("AT+CGATT?")
    assert final(term.cmd("AT+CLIP=1")) == "OK" and "+CLIP: 1,1" in term.cmd("AT+CLIP?")   # 27.007 7.6
