"""Could another user read this file? For `check-config` run as root on the service's config.

Root reads everything, so `sudo modemd check-config` said OK for a config the service (user modemd) could not open,
and `systemctl start` then failed with "Permission denied". This answers for the service's user from the mode bits
of the file and of every directory above it, the way the kernel decides (owner, else group, else other; ACLs and
capabilities are not looked at).
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path

SERVICE_USER = "modemd"


def service_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return None


def why_unreadable(path: Path, user: pwd.struct_passwd) -> str | None:
    """None if `user` can read `path`; else which file or directory stops it, with its owner and mode."""
    if user.pw_uid == 0:
        return None
    groups = {user.pw_gid} | {g.gr_gid for g in grp.getgrall() if user.pw_name in g.gr_mem}
    path = Path(os.path.abspath(path))
    for directory in reversed(path.parents):
        if not _allowed(directory, user.pw_uid, groups, stat.S_IXUSR):
            return f"cannot enter {_describe(directory)}"
    if not _allowed(path, user.pw_uid, groups, stat.S_IRUSR):
        return f"cannot read {_describe(path)}"
    return None


def _allowed(path: Path, uid: int, groups: set[int], owner_bit: int) -> bool:
    st = os.stat(path)
    if st.st_uid == uid:
        return bool(st.st_mode & owner_bit)
    if st.st_gid in groups:
        return bool(st.st_mode & (owner_bit >> 3))
    return bool(st.st_mode & (owner_bit >> 6))


def _describe(path: Path) -> str:
    st = os.stat(path)
    return f"{path} ({_name(pwd.getpwuid, st.st_uid)}:{_name(grp.getgrgid, st.st_gid)} {stat.S_IMODE(st.st_mode):04o})"


def _name(lookup, number: int) -> str:
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)
