"""config.file_access.why_unreadable: what `check-config` (as root) says about the files the service user will open."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from modemd.config.file_access import why_unreadable

# A user that owns nothing here and is in no group of these files.
STRANGER = pwd.struct_passwd(("stranger", "x", 64999, 64999, "", "/", "/bin/false"))


@pytest.fixture
def config():
    # Not under tmp_path: pytest's /tmp/pytest-of-<user> is 0700, which would stop the stranger before our files.
    top = Path(tempfile.mkdtemp())
    os.chmod(top, 0o755)
    path = top / "etc" / "modemd.toml"
    path.parent.mkdir(mode=0o755)
    path.write_text("")
    yield path
    shutil.rmtree(top)


@pytest.mark.parametrize("file_mode, dir_mode, stopped_by", [
    (0o644, 0o755, None),
    (0o640, 0o755, "cannot read"),        # group read only, and the stranger is not in the group
    (0o600, 0o755, "cannot read"),
    (0o644, 0o750, "cannot enter"),       # readable file in a directory the stranger may not search
])
def test_mode_bits_decide(config, file_mode, dir_mode, stopped_by):
    os.chmod(config, file_mode)
    os.chmod(config.parent, dir_mode)
    why = why_unreadable(config, STRANGER)
    if stopped_by is None:
        assert why is None
    else:
        assert why is not None and why.startswith(stopped_by), why


def test_owner_and_group_bits(config):
    os.chmod(config, 0o400)
    owner = pwd.struct_passwd(("owner", "x", os.stat(config).st_uid, 64999, "", "/", "/bin/false"))
    assert why_unreadable(config, owner) is None
    os.chmod(config, 0o040)
    grouped = pwd.struct_passwd(("grouped", "x", 64998, os.stat(config).st_gid, "", "/", "/bin/false"))
    assert why_unreadable(config, grouped) is None


def test_root_reads_everything(config):
    os.chmod(config, 0)
    assert why_unreadable(config, pwd.getpwuid(0)) is None
