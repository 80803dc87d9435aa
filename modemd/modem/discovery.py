"""Discovery: which serial ports hold which modems, and handing each modem named by identity (imei/iccid/imsi in
its [[modems]] table) the port it is on now, again after every replug, whatever path it comes back on.

One pass (`scan`):
1. candidates: every path the [discovery] globs match that is a character device, in the order of the patterns; a
   by-id link and the ttyUSB it resolves to are one port (deduplicated by realpath, shown by the first name found:
   with the default patterns the stable by-id link);
2. ports our own supervisors hold or are configured with (by port) are not probed: their modems say who they are;
3. the others are probed (port_probe.py), all at once (a silent port costs probe_timeout, not N times it). What a
   probe learnt is remembered per device node (realpath, st_rdev, st_ino, st_ctime): a port that is not a modem is
   not asked again until it is replugged (a new node); a busy or unopenable port is asked again at the next pass;
4. a modem with several AT ports (Quectel EC25: if02 and if03 both answer AT with the same IMEI) is used through one:
   the one a supervisor already holds, else the first in the kernel's order (natural sort of the realpath). USB
   interfaces enumerate in order, and every map in FIELD-NOTES 2.4 puts the primary AT port before the secondary
   (EC25 and SIM7600: if02 before if03; A7600E-H: if04 before if05), while the ports before it (DIAG, NMEA) do not
   answer AT at all. The others are listed as "another port of the same modem";
5. each supervisor waiting for its modem is attached to the port whose identity matches every key it gives
   (config.identity.same_modem), its configured port first when it has one.

Passes run when hot-plug (hotplug.py) sees a port appear or go, when a supervisor lets go of its port, and when
`modemd modems` asks (GET /v1/admin/ports). The same hot-plug events wake the supervisors of modems named by port,
so they reopen at once instead of at their next backoff step. Without inotify, a pass runs every FALLBACK_RESCAN
seconds instead. Automatic passes only run when some modem is named by identity: a daemon configured by port alone
sends nothing to ports it was not given, except when `modemd modems` asks.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import re
import stat
from dataclasses import replace

from ..config.identity import same_modem
from ..config.model import DiscoveryConfig
from .hotplug import HotplugWatcher
from .port_probe import IN_USE_ELSEWHERE, MODEM, NOT_A_MODEM, OURS, SECONDARY, PortFinding, probe_port
from .state import identity_text
from .supervisor import ModemSupervisor

log = logging.getLogger(__name__)

# Without inotify (or when it failed): how often ports are looked at again. Long, because each pass may probe.
FALLBACK_RESCAN = 60.0
# A modem found busy (ModemManager probes a new port for ~10 s, FIELD-NOTES 2.1) while a modem is still looked for:
# asked again this soon; closing a port makes no inotify event.
BUSY_RETRY = 5.0


def candidate_ports(patterns: tuple[str, ...]) -> list[tuple[str, str, tuple]]:
    """(path, realpath, device key) of every character device the patterns match, one per realpath."""
    seen: dict[str, tuple[str, str, tuple]] = {}
    for pattern in patterns:
        for path in sorted(glob.glob(pattern), key=natural_key):
            real = os.path.realpath(path)
            if real in seen:
                continue
            try:
                st = os.stat(real)
            except OSError:
                continue                       # a dangling link: unplugged while we looked
            if stat.S_ISCHR(st.st_mode):
                seen[real] = (path, real, (real, st.st_rdev, st.st_ino, st.st_ctime_ns))
    return list(seen.values())


def natural_key(path: str) -> list:
    """ttyUSB2 before ttyUSB10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


class Discovery:
    def __init__(self, settings: DiscoveryConfig, supervisors: list[ModemSupervisor]):
        self.settings = settings
        self.supervisors = supervisors
        self.automatic = any(s.identity for s in supervisors)
        watched = list(settings.paths) + [s.configured_port for s in supervisors if s.configured_port]
        self.watcher = HotplugWatcher(watched, self._ports_changed)
        self._known: dict[tuple, PortFinding] = {}     # device key -> what its probe found
        self.findings: list[PortFinding] = []
        self._lock = asyncio.Lock()
        self._wanted = asyncio.Event()
        self._busy_seen = False
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        for sup in self.supervisors:
            sup.on_released = self.port_released
        if not self.watcher.start():
            log.warning("discovery: no hot-plug events; looking at ports every %.0f s", FALLBACK_RESCAN)
        if self.automatic:
            self._wanted.set()
        self._task = asyncio.create_task(self._run(), name="discovery")

    async def stop(self) -> None:
        self.watcher.stop()
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _ports_changed(self) -> None:
        for sup in self.supervisors:
            sup.port_event()
        if self.automatic:
            self._wanted.set()

    def port_released(self, realpath: str) -> None:
        """A supervisor let go of a port (lost, refused, another modem): probe it afresh, look for its modem."""
        self._known = {key: f for key, f in self._known.items() if key[0] != realpath}
        self._wanted.set()

    async def _run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self._next_pass_in()):
                    await self._wanted.wait()
            except TimeoutError:
                self._ports_changed()          # what an event would have done
            self._wanted.clear()
            try:
                await self.scan()
            except Exception:                  # a pass that failed is retried at the next event
                log.exception("discovery pass failed")

    def _next_pass_in(self) -> float | None:
        if not self.watcher.available:
            return FALLBACK_RESCAN
        waiting = any(s.awaiting_port for s in self.supervisors)
        return BUSY_RETRY if waiting and self._busy_seen else None

    async def scan(self, *, attach: bool = True) -> list[PortFinding]:
        """One pass (see the module doc); the findings, also kept in `findings` for GET /v1/admin/ports."""
        async with self._lock:
            findings = await self._survey()
            pick_one_port_per_modem(findings)
            if attach:
                self._attach(findings)
            self._name_configured(findings)
            self.findings = findings
            self._busy_seen = any(f.status == IN_USE_ELSEWHERE for f in findings)
            return findings

    async def _survey(self) -> list[PortFinding]:
        candidates = candidate_ports(self.settings.paths)
        held = self._held()
        new = [c for c in candidates if c[1] not in held and c[2] not in self._known]
        probed = await asyncio.gather(*(probe_port(path, real, self.settings.probe_timeout)
                                        for path, real, _ in new))
        fresh = {key: finding for (_, _, key), finding in zip(new, probed)}
        for finding in probed:
            log.debug("probed %s: %s %s", finding.path, finding.status, finding.detail or identity_text(
                finding.identity))
        present = {c[2] for c in candidates}
        self._known = {k: f for k, f in {**self._known, **fresh}.items()
                       if k in present and f.status in (MODEM, NOT_A_MODEM)}
        return [self._held_finding(path, real, held[real]) if real in held
                else replace(fresh.get(key) or self._known[key], path=path) for path, real, key in candidates]

    def _held(self) -> dict[str, ModemSupervisor]:
        """realpath -> the supervisor holding it, attached to it, or configured with it (by port)."""
        held = {}
        for sup in self.supervisors:
            for port in (sup.port, sup.configured_port if not sup.identity else ""):
                if port:
                    held[os.path.realpath(port)] = sup
        return held

    @staticmethod
    def _held_finding(path: str, real: str, sup: ModemSupervisor) -> PortFinding:
        ident = sup.modem.status.identity
        return PortFinding(path, real, OURS, f"held by modem {sup.name!r} ({sup.modem.status.state.value})",
                           ident.manufacturer, ident.model, ident.imei, ident.iccid, ident.imsi, modem=sup.name)

    def _attach(self, findings: list[PortFinding]) -> None:
        for sup in self.supervisors:
            if not sup.awaiting_port:
                continue
            matches = [f for f in findings if f.status == MODEM and same_modem(sup.identity, f.identity)]
            matches.sort(key=lambda f: f.realpath != os.path.realpath(sup.configured_port or "/nonexistent"))
            if matches:
                found = matches[0]
                found.status, found.modem, found.detail = OURS, sup.name, f"attached to modem {sup.name!r}"
                sup.attach(found.path)

    def _name_configured(self, findings: list[PortFinding]) -> None:
        """A modem found but not attached (its modem is up elsewhere, or configured by port): which one it is."""
        for f in findings:
            if f.status == MODEM and f.modem is None:
                f.modem = next((s.name for s in self.supervisors if s.identity and same_modem(s.identity,
                                                                                          f.identity)), None)


def pick_one_port_per_modem(findings: list[PortFinding]) -> None:
    """Of the ports that answer with the same IMEI, keep one (see the module doc, step 4); mark the others."""
    by_imei: dict[str, list[PortFinding]] = {}
    for f in findings:
        if f.status in (MODEM, OURS) and f.imei:
            by_imei.setdefault(f.imei, []).append(f)
    for ports in by_imei.values():
        ports.sort(key=lambda f: (f.status != OURS, natural_key(f.realpath)))
        for other in ports[1:]:
            if other.status == MODEM:
                other.status, other.detail = SECONDARY, f"the modem is used through {ports[0].path}"
