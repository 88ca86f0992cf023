"""A network namespace for one "machine" of the partition test, joined to this one by a veth
pair (iproute2), and TCP forwarders that make loopback services reachable from it.

    host  169.254.N.1 ── veth ── 169.254.N.2  namespace

``cut()`` takes the host end of the link down: packets are dropped, no connection is reset,
as in a real partition. ``restore()`` brings it back. Addresses are link-local: nothing but
this machine and the namespace it made can be reached through them.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import threading
from collections.abc import Iterator


class NamespaceUnavailable(Exception):
    """Network namespaces cannot be made here (not root, or no CAP_NET_ADMIN)."""


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise NamespaceUnavailable(f"ip {' '.join(args)}: {done.stderr.strip()}")


class Namespace:
    def __init__(self) -> None:
        tag = f"{os.getpid() % 10000}{random.randrange(100, 999)}"
        self.name = f"sdist{tag}"
        self.host_if = f"vh{tag}"
        self.ns_if = f"vn{tag}"
        net = random.randrange(1, 254)
        self.host_ip = f"169.254.{net}.1"
        self.ns_ip = f"169.254.{net}.2"

    def create(self) -> None:
        _ip("netns", "add", self.name)
        try:
            _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            _ip("link", "set", self.ns_if, "netns", self.name)
            _ip("addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
            _ip("link", "set", self.host_if, "up")
            inside = ("netns", "exec", self.name, "ip")
            _ip(*inside, "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if)
            _ip(*inside, "link", "set", self.ns_if, "up")
            _ip(*inside, "link", "set", "lo", "up")
        except NamespaceUnavailable:
            self.delete()
            raise

    def cut(self) -> None:
        _ip("link", "set", self.host_if, "down")

    def restore(self) -> None:
        _ip("link", "set", self.host_if, "up")

    def command(self) -> list[str]:
        """The prefix that runs a command inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def delete(self) -> None:
        with contextlib.suppress(NamespaceUnavailable):
            _ip("link", "del", self.host_if)  # deletes its peer too
        with contextlib.suppress(NamespaceUnavailable):
            _ip("netns", "del", self.name)


@contextlib.contextmanager
def namespace() -> Iterator[Namespace]:
    ns = Namespace()
    ns.create()
    try:
        yield ns
    finally:
        ns.delete()


class Forward:
    """Relays TCP from ``host:port`` (the veth's host address) to ``127.0.0.1:target``."""

    def __init__(self, host: str, target: int) -> None:
        self.target = target
        self.listener = socket.create_server((host, 0))
        self.port = int(self.listener.getsockname()[1])
        self._open: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            self._open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        for sock in self._open:
            with contextlib.suppress(OSError):
                sock.close()
