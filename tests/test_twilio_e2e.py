"""The official Twilio clients, changed only as docs/twilio.md says (its code blocks run here as written), against
the real daemon on the simulated modem: a verification whose code is read from the simulated handset, a wrong
code (pending), the right one (approved), a fetch after approval (404), a cancel, the check-attempts cap (60202),
and no code or token in the daemon's log. twilio-python always; twilio-node when node and npm are here."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from twilio.base.exceptions import TwilioRestException

from kit import running_daemon, wait_for

DOC = Path(__file__).resolve().parent.parent / "docs" / "twilio.md"
NODE = Path(__file__).resolve().parent / "node"
SERVICE = "VA0123456789abcdef0123456789abcdef"      # the SID docs/twilio.md's examples name
TOKEN = "webshop-token-0123456789abcdef"
APP = f"""
[[apps]]
name = "webshop"
tokens = ["{TOKEN}"]
scopes = ["otp"]
twilio_service_sid = "{SERVICE}"
"""
TO = "+4915112345678"                               # the number docs/twilio.md's example sends to


def doc_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)


@pytest.fixture
def daemon(sim_process, tmp_path, free_port, monkeypatch):
    """The daemon with the app "webshop" of docs/twilio.md, and the environment its code blocks read."""
    with running_daemon(tmp_path, sim=sim_process, port=free_port, config=APP) as d:
        monkeypatch.setenv("MODEMD_TOKEN", TOKEN)
        monkeypatch.setenv("MODEMD_URL", d.url)
        yield d


def code_sent_to(sim, number: str, before: int = 0) -> str:
    """The code in the SMS that reached `number` on the simulated handset after its `before` earlier ones."""
    def received():
        return [m["text"] for m in sim.messages() if m["to"] == number]
    wait_for(lambda: len(received()) > before, timeout=20)
    return re.search(r"\b(\d{6})\b", received()[before]).group(1)


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_the_python_client_as_the_guide_changes_it(daemon, sim_process):
    setup, usage = doc_blocks("python")
    namespace: dict = {}
    exec(setup, namespace)                           # the two changed lines
    exec(usage, namespace)                           # Twilio's own calls: a code to TO, a check of "123456"
    first = namespace["verification"]
    assert re.fullmatch(r"VE[0-9a-f]{32}", first.sid) and first.status == "pending" and first.to == TO
    assert namespace["check"].status == "pending"    # "123456" is not the code (but for a chance of 1e-6)
    verify = namespace["client"].verify.v2.services(SERVICE)
    codes = [code_sent_to(sim_process, TO)]
    checked = verify.verification_checks.create(to=TO, code=wrong(codes[0]))
    assert (checked.status, checked.valid) == ("pending", False)
    approved = verify.verification_checks.create(verification_sid=first.sid, code=codes[0])
    assert (approved.status, approved.valid, approved.sid) == ("approved", True, first.sid)
    with pytest.raises(TwilioRestException) as gone:
        verify.verifications(first.sid).fetch()
    assert (gone.value.status, gone.value.code) == (404, 20404)

    other = verify.verifications.create(to="+4915112345600", channel="sms")
    assert verify.verifications(other.sid).fetch().status == "pending"
    assert verify.verifications(other.sid).update(status="canceled").status == "canceled"
    with pytest.raises(TwilioRestException) as canceled:
        verify.verifications(other.sid).fetch()
    assert canceled.value.code == 20404

    capped = verify.verifications.create(to="+4915112345601", channel="sms")
    codes.append(code_sent_to(sim_process, "+4915112345601"))
    for _ in range(4):
        assert verify.verification_checks.create(to=capped.to, code=wrong(codes[-1])).status == "pending"
    for attempt in (wrong(codes[-1]), codes[-1]):       # the fifth wrong code, then even the right one
        with pytest.raises(TwilioRestException) as out_of_checks:
            verify.verification_checks.create(to=capped.to, code=attempt)
        assert (out_of_checks.value.status, out_of_checks.value.code) == (429, 60202)
    assert verify.verifications(capped.sid).fetch().status == "max_attempts_reached"

    daemon.terminate()
    log = daemon.output()
    assert "otp otp_" in log and "approved" in log and "canceled by app webshop" in log
    assert TOKEN not in log and TO not in log and not any(code in log for code in codes)


@pytest.fixture(scope="module")
def node_client(tmp_path_factory) -> Path:
    """A directory with the twilio npm package of tests/node/package-lock.json installed (npm ci), and run.js:
    docs/twilio.md's Node block followed by tests/node/driver.js."""
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are not installed here: the npm client's test needs both")
    directory = tmp_path_factory.mktemp("node-twilio")
    for name in ("package.json", "package-lock.json"):
        shutil.copy(NODE / name, directory / name)
    installed = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=directory, capture_output=True,
                               text=True, timeout=300)
    if installed.returncode != 0:
        pytest.skip(f"npm ci could not install the twilio package from the registry: {installed.stderr[-500:]}")
    (directory / "run.js").write_text(doc_blocks("js")[0] + (NODE / "driver.js").read_text())
    return directory


def node(client: Path, *args: str) -> dict:
    """One Verify operation through the npm client (driver.js), its JSON outcome."""
    ran = subprocess.run(["node", "run.js", *args], cwd=client, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def test_the_node_client_as_the_guide_changes_it(daemon, sim_process, node_client):
    created = node(node_client, "create", SERVICE, TO)
    assert created["status"] == "pending" and re.fullmatch(r"VE[0-9a-f]{32}", created["sid"])
    code = code_sent_to(sim_process, TO)
    assert node(node_client, "check", SERVICE, TO, wrong(code)) == {
        "sid": created["sid"], "status": "pending", "valid": False, "to": TO}
    assert node(node_client, "check", SERVICE, TO, code)["status"] == "approved"
    assert node(node_client, "fetch", SERVICE, "", "", created["sid"]) == {
        "error": {"status": 404, "code": 20404, "moreInfo": "https://www.twilio.com/docs/errors/20404"}}
    other = node(node_client, "create", SERVICE, "+4915112345600")
    assert node(node_client, "cancel", SERVICE, "", "", other["sid"])["status"] == "canceled"
    assert node(node_client, "check", SERVICE, "+4915112345600", "123456")["error"]["code"] == 20404
    assert node(node_client, "create", "VA" + "f" * 32, TO)["error"]["code"] == 20404
