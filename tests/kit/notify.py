"""systemd's notify socket, played by a test: an AF_UNIX datagram socket that records what sd_notify sends."""

from __future__ import annotations

import socket


class NotifySocket:
    """Bound at `address`: a path, or b"\\0..." for an abstract socket. Read on demand, with no thread: sendto() on
    an AF_UNIX datagram socket has queued the datagram here by the time it returns, so what a sender in this
    process sent is in drain() right after its call; another process's datagrams are waited for with wait_for."""

    def __init__(self, address: str | bytes):
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.setblocking(False)
        self.received: list[bytes] = []

    @property
    def env_name(self) -> str:
        """The address as $NOTIFY_SOCKET names it."""
        if isinstance(self.address, bytes):
            return "@" + self.address[1:].decode()
        return self.address

    def drain(self) -> list[bytes]:
        """Every datagram received so far, in order (those that arrived since the last call read now)."""
        while True:
            try:
                self.received.append(self.sock.recv(65536))
            except BlockingIOError:
                return self.received

    def has(self, prefix: str) -> bool:
        """Some datagram carries an assignment line starting with `prefix` ("READY=1", "STATUS=...")."""
        return any(line.startswith(prefix) for msg in self.drain() for line in msg.decode().split("\n"))

    def count(self, payload: bytes) -> int:
        return self.drain().count(payload)

    def close(self) -> None:
        self.sock.close()
