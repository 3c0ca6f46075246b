"""Worker hosts on one machine: a Linux network namespace each, joined to this one by a veth
pair. A process in a host sees only its own loopback and its link, so it reaches the broker,
Redis and PostgreSQL over the network at this side's address of its link, as a worker on
another machine would."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

NETWORK = "10.213"  # host n's link is 10.213.n.0/30: this side .1, the host .2


@dataclass(frozen=True)
class Host:
    name: str  # the network namespace
    server: str  # this side's address on the host's link: where the host finds the services
    network: str  # the link, as a CIDR

    @property
    def exec(self) -> tuple[str, ...]:
        """The command prefix that runs a program on this host (``ip netns exec`` execs it)."""
        return ("ip", "netns", "exec", self.name)

    def env(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` with every service address seen from this host."""
        return {key: value.replace("127.0.0.1", self.server) for key, value in env.items()}


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _add(name: str, link: str, n: int) -> Host:
    server, network = f"{NETWORK}.{n}.1", f"{NETWORK}.{n}.0/30"
    _ip("netns", "add", name)
    _ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", name)
    _ip("addr", "add", f"{server}/30", "dev", link)
    _ip("link", "set", link, "up")
    _ip("-n", name, "addr", "add", f"{NETWORK}.{n}.2/30", "dev", "eth0")
    _ip("-n", name, "link", "set", "eth0", "up")
    _ip("-n", name, "link", "set", "lo", "up")
    return Host(name, server, network)


def _remove(name: str, link: str) -> None:
    for args in (("link", "del", link), ("netns", "del", name)):
        subprocess.run(["ip", *args], capture_output=True)  # already gone is fine


@contextmanager
def hosts(count: int) -> Iterator[list[Host]]:
    """``count`` hosts, removed again when the block ends. Skips (fails under ``CI``) where
    this process may not make network namespaces."""
    from tests.conftest import unavailable

    tag = os.getpid() % 100_000
    names = [(f"tweetfeed-{tag}-{n}", f"tfv{tag}h{n}") for n in range(1, count + 1)]
    try:
        if shutil.which("ip") is None:
            raise FileNotFoundError("no `ip` command (iproute2)")
        made = [_add(name, link, n) for n, (name, link) in enumerate(names, start=1)]
    except (OSError, subprocess.CalledProcessError) as exc:
        for name, link in names:
            _remove(name, link)
        detail = getattr(exc, "stderr", b"") or b""
        unavailable("network namespaces (`ip netns`, needs root)", OSError(f"{exc} {detail!r}"))
        raise
    try:
        yield made
    finally:
        for name, link in names:
            _remove(name, link)
