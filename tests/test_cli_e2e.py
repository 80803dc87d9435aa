"""What a user does from a shell: `modemd sendsms`, `modemd probe`, `modemd run`, against `modemd simulate`."""

from __future__ import annotations

import json
import os

import pytest

from kit import http_get, run_modemd, running_daemon, wait_for

TO = "+4915112345678"
TEXTS = {
    "gsm7_extension": "Price: 5€ [promo] {x} ~ ^ | \\ done @home",
    "cyrillic": "Ваш код подтверждения: 482913.",
    "emoji": "Your code 🔐✅ 👍🏽 👨‍👩‍👧",
    "multipart_1000": "".join(chr(ord("a") + i % 26) for i in range(1000)),
}


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_sendsms_delivers_byte_exact(sim_process, name):
    result = run_modemd("sendsms", "--port", sim_process.link, TO, TEXTS[name])
    assert result.returncode == 0, result.stderr
    assert "sent to +491" in result.stdout and TO not in result.stdout + result.stderr
    [sms] = sim_process.messages()
    assert sms["to"] == TO and sms["text"] == TEXTS[name]
    if name == "multipart_1000":
        assert sms["parts"] == 7   # 1000 septets / 153 per part


def test_sendsms_reads_text_from_stdin(sim_process):
    text = "line one\nline two with \x1a and \x1b inside"   # Ctrl-Z/ESC would end a text-mode send early
    result = run_modemd("sendsms", "--port", sim_process.link, TO, "-", stdin_text=text)
    assert result.returncode == 0, result.stderr
    assert sim_process.messages()[0]["text"] == text


def test_sendsms_rejects_a_bad_number_before_touching_the_modem(sim_process):
    result = run_modemd("sendsms", "--port", sim_process.link, "+49abc", "hi")
    assert result.returncode == 2
    assert "destination" in result.stderr.lower()
    assert sim_process.messages() == []


def test_sendsms_permanent_network_error_exits_1(sim_process):
    sim_process.control.fault(name="cms_errors", value=[1])
    result = run_modemd("sendsms", "--port", sim_process.link, TO, "hi")
    assert result.returncode == 1
    assert "CMS" in result.stderr or "unassigned" in result.stderr.lower()


def test_sendsms_on_a_missing_port_exits_69(tmp_path):
    result = run_modemd("sendsms", "--port", str(tmp_path / "nope"), TO, "hi")
    assert result.returncode == 69
    assert "cannot open" in result.stderr


def test_probe_finds_the_at_port_among_silent_ones(sim_process, tmp_path):
    silent_master, silent_slave = os.openpty()   # like a Quectel DIAG/NMEA port: open, but never answers AT
    silent = os.ttyname(silent_slave)
    try:
        result = run_modemd("probe", "--timeout", "1", "--json", silent, sim_process.link, str(tmp_path / "gone"))
    finally:
        os.close(silent_master)
        os.close(silent_slave)
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 0, result.stderr
    assert [r["answers_at"] for r in reports] == [False, True, False]
    found = reports[1]
    assert found["identity"]["manufacturer"] and len(found["identity"]["imei"]) == 15
    assert found["sim"] == "READY" and found["registration"] in (1, 5)
    assert found["rssi"] is not None and found["smsc"]


def test_probe_human_output(sim_process):
    result = run_modemd("probe", sim_process.link)
    assert result.returncode == 0, result.stderr
    for label in ("answers AT", "IMEI", "SIM:", "network:", "signal:", "SMSC:"):
        assert label in result.stdout


def test_daemon_brings_the_modem_up_and_recovers_from_an_unplug(sim_process, tmp_path, free_port):
    with running_daemon(tmp_path, sim=sim_process, port=free_port) as daemon:
        assert http_get(daemon.url + "/healthz") == (200, {"status": "ok"})
        sim_process.control.request("vanish")
        wait_for(daemon.not_ready, timeout=10)
        sim_process.control.request("reappear")      # a new pty behind the same link, like a replugged USB modem
        wait_for(daemon.ready, timeout=30)
        code = daemon.terminate()
    output = daemon.output()
    assert code == 0, output
    assert "IMEI" in output and "operator" in output and "signal" in output
    assert "offline" in output and output.count("-> ready") >= 2


def test_run_simulate_starts_its_own_modem(tmp_path, free_port):
    with running_daemon(tmp_path, "--simulate", port=free_port) as daemon:
        code = daemon.terminate()
    assert code == 0, daemon.output()
    assert "simulated modem" in daemon.output()


def test_run_without_a_port_is_a_config_error(tmp_path):
    result = run_modemd("run", "--state-dir", str(tmp_path))
    assert result.returncode == 78 and "--port" in result.stderr


def test_sendsms_does_not_try_a_pin_the_sim_rejected_before(sim_process, tmp_path):
    """`modemd sendsms --pin-file` reads the same record of rejected PINs as the daemon: a PIN the SIM refused
    there is not entered again by a hardware check (each try counts towards the PUK lock)."""
    import os
    from modemd.modem.pin_memory import PinMemory, sim_key
    from modemd.simulator.profile import DEFAULT_PROFILE
    sim_process.control.request("fault", faults={"pin": "4321", "sim_state": "SIM PIN"})
    state = tmp_path / "xdg" / "modemd"
    PinMemory.in_dir(state).record(sim_key(DEFAULT_PROFILE.iccid, "modem0"), "modem0", "1111")
    pin_file = tmp_path / "pin"
    pin_file.write_text("1111\n")
    os.chmod(pin_file, 0o600)
    before = sim_process.control.state()["pin_attempts"]
    result = run_modemd("sendsms", "--port", sim_process.link, "--pin-file", str(pin_file), TO, "x",
                     env={"XDG_STATE_HOME": str(tmp_path / "xdg")})
    assert result.returncode != 0 and "not tried again" in result.stderr, result.stderr
    assert sim_process.control.state()["pin_attempts"] == before          # no AT+CPIN reached the SIM
    assert sim_process.messages() == []
