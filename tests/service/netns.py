"""Network namespaces joined to this one by a veth pair, for live-capture tests.

``VethNamespace`` makes a namespace, a veth pair with one end inside it, and addresses from
TEST-NET-2 (RFC 5737, 198.51.100.0/24) on a /30 picked from the process id so that suites
running at the same time do not collide. Traffic never leaves the pair. ``close`` removes
everything and may be called more than once.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections.abc import Sequence
from typing import Final

TEST_NET_PREFIX: Final = "198.51.100."
SUBNETS: Final = 64  # /30 blocks in a /24
_counter = itertools.count()


def netns_unavailable() -> str | None:
    """Why network namespaces cannot be made here, or None if they can."""
    if os.geteuid() != 0:
        return "live capture tests need root"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    probe = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=False, timeout=10
    )
    if probe.returncode != 0:
        return f"ip netns is unavailable: {probe.stderr.strip()}"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


class VethNamespace:
    """A namespace ``ns`` holding ``inner_if`` (``inner_addr``); ``host_if`` (``host_addr``)."""

    def __init__(self) -> None:
        serial = next(_counter)
        tag = f"{os.getpid() % 100000}{serial}"
        self.ns = f"wsns{tag}"
        self.host_if = f"wsh{tag}"[:15]
        self.inner_if = f"wsi{tag}"[:15]
        block = (os.getpid() + serial * 7) % SUBNETS * 4
        self.host_addr = f"{TEST_NET_PREFIX}{block + 1}"
        self.inner_addr = f"{TEST_NET_PREFIX}{block + 2}"
        self._processes: list[subprocess.Popen[bytes]] = []
        self._made_ns = False
        try:
            _ip("netns", "add", self.ns)
            self._made_ns = True
            _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.inner_if)
            _ip("link", "set", self.inner_if, "netns", self.ns)
            _ip("addr", "add", f"{self.host_addr}/30", "dev", self.host_if)
            _ip("-n", self.ns, "addr", "add", f"{self.inner_addr}/30", "dev", self.inner_if)
            # No IPv6 chatter (router solicitations, MLD) on either end.
            for where in ([], ["-n", self.ns]):
                name = self.host_if if not where else self.inner_if
                subprocess.run(
                    ["ip", *where, "link", "set", name, "addrgenmode", "none"],
                    check=False,
                    capture_output=True,
                    timeout=10,
                )
            _ip("link", "set", self.host_if, "up")
            _ip("-n", self.ns, "link", "set", self.inner_if, "up")
            _ip("-n", self.ns, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    def spawn(self, argv: Sequence[str], cwd: str | None = None) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside the namespace; ``close`` ends it."""
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, *argv],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._processes.append(process)
        return process

    def delete_host_if(self) -> None:
        """Delete the veth pair (both ends go)."""
        _ip("link", "del", self.host_if)

    def set_host_if_down(self) -> None:
        """Take the host end down (the device stays)."""
        _ip("link", "set", self.host_if, "down")

    def close(self) -> None:
        """End spawned processes, delete the veth and the namespace."""
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
        self._processes.clear()
        subprocess.run(
            ["ip", "link", "del", self.host_if], check=False, capture_output=True, timeout=10
        )
        if self._made_ns:
            subprocess.run(
                ["ip", "netns", "del", self.ns], check=False, capture_output=True, timeout=10
            )
            self._made_ns = False
