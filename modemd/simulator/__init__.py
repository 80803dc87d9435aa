"""A simulated GSM/LTE modem on a pseudo-terminal, speaking AT like a Quectel EC25 (TS 27.005 / 27.007).

    modem = SimulatedModem(link="/tmp/modem0", handset_path="/tmp/handset.jsonl")
    await modem.start(); ...; await modem.stop()

Layers: parser (V.250 syntax) -> dialect (pure AT interpreter: bytes in, actions out) with commands_basic /
commands_sms / inbound / textmode; modem (asyncio host) -> pty_port (the pty and its link), handset (the far end),
control (JSON-lines socket), background (run in a thread for blocking clients), cli (`modemd simulate`).
"""
from .background import BackgroundSimulator
from .cli import run_simulator
from .control import ControlClient, ControlError, ControlServer
from .dialect import Dialect
from .faults import Faults
from .handset import Handset, HandsetSms
from .modem import SimulatedModem
from .profile import DEFAULT_PROFILE, ModemProfile

__all__ = ["SimulatedModem", "Faults", "ModemProfile", "DEFAULT_PROFILE", "Handset", "HandsetSms", "Dialect",
           "ControlServer", "ControlClient", "ControlError", "BackgroundSimulator", "run_simulator"]
