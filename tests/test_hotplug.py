"""hotplug.HotplugWatcher with real files in temporary directories: inotify events for the names the patterns
match, one call per burst, a watch that moves down as a missing directory appears, and permissions (IN_ATTRIB)."""

from __future__ import annotations

import asyncio
import os

from modemd.modem.hotplug import HotplugWatcher, watch_target


class Calls:
    def __init__(self):
        self.count = 0
        self.event = asyncio.Event()

    def __call__(self):
        self.count += 1
        self.event.set()

    async def next(self):
        await asyncio.wait_for(self.event.wait(), 5)
        self.event.clear()


def test_a_missing_directory_is_watched_through_its_nearest_ancestor(tmp_path):
    assert watch_target(str(tmp_path / "serial" / "by-id" / "*")) == (str(tmp_path), "serial")
    (tmp_path / "serial").mkdir()
    assert watch_target(str(tmp_path / "serial" / "by-id" / "*")) == (str(tmp_path / "serial"), "by-id")


async def test_a_burst_of_new_ports_is_one_call(tmp_path):
    calls = Calls()
    watcher = HotplugWatcher([str(tmp_path / "ttyUSB*")], calls, debounce=0.05)
    assert watcher.start()
    try:
        for n in range(4):                   # a modem's four ports
            os.symlink("/dev/null", tmp_path / f"ttyUSB{n}")
        await calls.next()
        assert calls.count == 1
        os.unlink(tmp_path / "ttyUSB2")      # unplugged
        await calls.next()
        (tmp_path / "ttyUSB1").touch()       # (a link's target is untouched; a plain file stands in for a node)
        os.unlink(tmp_path / "ttyUSB1")
        await calls.next()
    finally:
        watcher.stop()


async def test_permissions_set_after_creation_are_an_event(tmp_path):
    node = tmp_path / "ttyACM0"
    node.touch(mode=0o600)
    calls = Calls()
    watcher = HotplugWatcher([str(tmp_path / "ttyACM*")], calls, debounce=0.05)
    watcher.start()
    try:
        os.chmod(node, 0o660)                # udev's GROUP=/MODE= after the node exists
        await calls.next()
    finally:
        watcher.stop()


async def test_the_watch_follows_directories_that_appear_later(tmp_path):
    calls = Calls()
    watcher = HotplugWatcher([str(tmp_path / "serial" / "by-id" / "*")], calls, debounce=0.05)
    watcher.start()
    try:
        assert watcher.directories == [str(tmp_path)]
        (tmp_path / "serial").mkdir()
        await calls.next()
        (tmp_path / "serial" / "by-id").mkdir()
        await calls.next()
        assert str(tmp_path / "serial" / "by-id") in watcher.directories
        os.symlink("/dev/null", tmp_path / "serial" / "by-id" / "usb-Quectel_EC25-if02-port0")
        await calls.next()
    finally:
        watcher.stop()


async def test_a_link_moved_into_place_is_an_event(tmp_path):
    calls = Calls()
    watcher = HotplugWatcher([str(tmp_path / "ttyUSB*")], calls, debounce=0.05)
    watcher.start()
    try:
        os.symlink("/dev/null", tmp_path / "made-elsewhere")
        os.replace(tmp_path / "made-elsewhere", tmp_path / "ttyUSB7")    # the simulator re-points links so
        await calls.next()
    finally:
        watcher.stop()
