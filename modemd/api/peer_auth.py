"""Who is on the other end of a unix socket: the admin socket lets root, the daemon's own user and members of its
group in without a token.

The kernel vouches for the peer: SO_PEERCRED gives the connecting process's uid and gid, SO_PEERGROUPS (Linux 4.13)
its supplementary groups, both as they were at connect(2). /proc/<pid>/status could not serve here: the unit's
ProtectProc=invisible hides other users' processes from the service. The socket's mode (0660, the daemon's group)
already keeps others from connecting; the check is the second lock, for a socket whose mode was changed by hand.
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass

SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)      # <asm-generic/socket.h>; Python names it only on 3.13+
MAX_GROUPS = 65536                                        # NGROUPS_MAX


@dataclass(frozen=True)
class Peer:
    pid: int
    uid: int
    gid: int
    groups: tuple[int, ...]

    @property
    def label(self) -> str:
        """The client key limits and logs use for this peer: its uid, never anything secret."""
        return f"uid:{self.uid}"


def peer_of(sock) -> Peer:
    """The credentials of the process that connected to this AF_UNIX stream socket. Raises OSError."""
    pid, uid, gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return Peer(pid, uid, gid, _groups(sock))


def _groups(sock) -> tuple[int, ...]:
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, 4 * 256)
    except OSError:            # more than 256 groups (ERANGE), or a kernel without SO_PEERGROUPS: ask once more big
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, 4 * MAX_GROUPS)
        except OSError:
            return ()
    return struct.unpack(f"{len(raw) // 4}I", raw[: len(raw) // 4 * 4])


def is_admin(peer: Peer, *, uid: int | None = None, gid: int | None = None) -> bool:
    """Root, the daemon's own user, or a member of the daemon's group (default: this process's uid and gid)."""
    uid = os.geteuid() if uid is None else uid
    gid = os.getegid() if gid is None else gid
    return peer.uid in (0, uid) or peer.gid == gid or gid in peer.groups
