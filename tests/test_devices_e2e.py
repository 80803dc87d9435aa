"""Other devices than the EC25: an Android phone's ACM port (no +CNMI: the inbox is polled) and a Huawei E3372."""

from __future__ import annotations

import pytest

from kit import SimProcess, running_daemon, wait_for

TO = "+4915112345678"


@pytest.mark.parametrize("device", ["android", "e3372"])
def test_send_and_receive(device, tmp_path, free_port):
    with SimProcess(tmp_path, device=device) as sim, \
            running_daemon(tmp_path, sim=sim, port=free_port, log_level="trace") as daemon:
        [modem] = daemon.call("GET", "/v1/modems")[1]["data"]
        assert modem["model"] == {"android": "SM-G960F", "e3372": "E3372"}[device]
        _, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": f"via {device} ✓"})
        wait_for(lambda: sim.messages(), timeout=15)
        assert sim.messages()[0]["text"] == f"via {device} ✓"
        sim.control.inject_sms(sender="+447700900123", text=f"reply to {device}")
        # The phone never announces it (AT+CNMI is refused): the poll finds it within its interval.
        wait_for(lambda: daemon.call("GET", "/v1/inbox")[1]["data"], timeout=25)
        assert daemon.call("GET", "/v1/inbox")[1]["data"][0]["text"] == f"reply to {device}"
        cnmi = sim.control.state()["settings"]["cnmi"]
    if device == "android":       # no +CMTI ever came: the message was found by a poll, not announced
        assert cnmi == [0, 0, 0, 0, 0] and "+CMTI" not in daemon.output()
