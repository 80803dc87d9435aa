"""Routing end to end: a real daemon process and two simulated modems (`modemd simulate` processes), one in group
"de" and one in group "fr", with [[routes]] by country; the handsets' records say which modem each SMS left by."""

from __future__ import annotations

import re

from kit import SimProcess, run_modemd, running_daemon, wait_for
from kit.processes import config_toml

DE, FR = "+4915112345678", "+33612345678"


def routed_config(port: int, de: SimProcess, fr: SimProcess) -> str:
    return config_toml(port=port, extra=f"""
[[modems]]
name = "de"
port = "{de.link}"
groups = ["de"]

[[modems]]
name = "fr"
port = "{fr.link}"
groups = ["fr"]

[[routes]]
group = "de"
countries = ["DE"]

[[routes]]
group = "fr"
countries = ["FR"]
""")


def texts(sim: SimProcess) -> list[str]:
    return [m["text"] for m in sim.messages()]


def status(daemon, message_id: str) -> dict:
    return daemon.call("GET", f"/v1/messages/{message_id}")[1]


def test_route_by_country_and_a_pinned_message_waits_for_its_modem(tmp_path, free_port):
    with SimProcess(tmp_path, "ttyDE") as de, SimProcess(tmp_path, "ttyFR") as fr, \
            running_daemon(tmp_path, config=routed_config(free_port, de, fr), port=free_port) as daemon:
        wait_for(lambda: all(m["state"] == "ready" for m in daemon.call("GET", "/v1/modems")[1]["data"]),
                 timeout=20)
        assert {m["name"]: m["groups"] for m in daemon.call("GET", "/v1/modems")[1]["data"]} == {"de": ["de"],
                                                                                              "fr": ["fr"]}
        # (a) the rules: +49 through the de modem, +33 through the fr one.
        for to, text in ((DE, "hallo"), (FR, "bonjour"), (DE, "tschüss"), (FR, "salut")):
            assert daemon.call("POST", "/v1/messages", {"to": to, "text": text})[0] == 202
        wait_for(lambda: len(de.messages()) == 2 and len(fr.messages()) == 2, timeout=30)
        assert sorted(texts(de)) == ["hallo", "tschüss"] and sorted(texts(fr)) == ["bonjour", "salut"]
        assert {m["to"] for m in de.messages()} == {DE} and {m["to"] for m in fr.messages()} == {FR}

        # (b) pinned to the de modem while it is unplugged: it waits, says why, and fr does not take it.
        de.control.request("vanish")
        wait_for(lambda: any(m["name"] == "de" and m["state"] != "ready"
                             for m in daemon.call("GET", "/v1/modems")[1]["data"]), timeout=15)
        code, pinned = daemon.call("POST", "/v1/messages", {"to": FR, "text": "only via de", "modem": "de"})
        assert code == 202, pinned
        code, later = daemon.call("POST", "/v1/messages", {"to": FR, "text": "after the pinned one"})
        assert code == 202
        wait_for(lambda: status(daemon, later["id"])["status"] == "sent", timeout=30)   # fr is sending
        shown = status(daemon, pinned["id"])
        assert shown["status"] == "queued" and shown["route"] == {"modem": "de"}, shown
        assert shown["waiting"] == "for modem de, which is offline", shown
        assert "only via de" not in texts(fr)
        shown_by_cli = run_modemd("queue", "show", "--config", str(tmp_path / "modemd.toml"), pinned["id"])
        assert shown_by_cli.returncode == 0, shown_by_cli.stderr
        assert re.search(r"route\s+modem de\n\s+waiting\s+for modem de, which is offline", shown_by_cli.stdout)

        de.control.request("reappear")       # a new pty behind the same link, like a replugged USB modem
        wait_for(lambda: status(daemon, pinned["id"])["status"] == "sent", timeout=40)
        shown = status(daemon, pinned["id"])
        assert shown["modem"] == "de" and "waiting" not in shown
        assert "only via de" in texts(de) and "only via de" not in texts(fr)
