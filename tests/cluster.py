"""A Redis Cluster of the tests' own: three masters on loopback ports, no replicas.

``redis-server --cluster-enabled yes`` per master, joined by ``redis-cli --cluster create``;
stopped after. Each master's cluster bus is its port + 10000. The tests and ``make bench``
(``bench.fanout_cluster``) start theirs here.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from tests.helpers import free_port

MASTERS = 3


def _free_pair() -> int:
    """A port free on loopback whose cluster bus port (+10000) is free too."""
    while True:
        port = free_port()
        if port + 10000 >= 65536:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def missing() -> str | None:
    """Why this machine cannot start a cluster, or None."""
    for tool in ("redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            return f"{tool} is not on PATH"
    return None


@dataclass(frozen=True)
class Cluster:
    url: str  # names one of the masters
    pids: list[int]


@contextmanager
def redis_cluster(root: Path) -> Iterator[Cluster]:
    """Start the cluster under ``root`` (files and logs there); yield it once it is ok."""
    ports = [_free_pair() for _ in range(MASTERS)]
    processes = []
    try:
        for port in ports:
            folder = root / str(port)
            folder.mkdir(parents=True)
            processes.append(subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--save", "", "--appendonly", "no", "--logfile", "redis.log"],
                cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            ))  # fmt: skip
        for port in ports:
            _wait(lambda p=port: redis.Redis(port=p).ping(), f"redis-server on {port}")
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        for port in ports:
            _wait(lambda p=port: _ok(p), f"the cluster to be ok on {port}")
        yield Cluster(f"redis://127.0.0.1:{ports[0]}/0", [p.pid for p in processes])
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=10)


def _ok(port: int) -> bool:
    info = redis.Redis(port=port).cluster("info")
    return bool(
        info.get("cluster_state") == "ok" and int(info.get("cluster_known_nodes", 0)) == MASTERS
    )


def _wait(check: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except redis.exceptions.RedisError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


def move_slot(client: Any, slot: int, target: Any) -> None:
    """Move ``slot``, keys and all, to the master ``target`` (a ``ClusterNode`` of ``client``),
    the way ``redis-cli --cluster reshard`` does: importing, migrating, the keys, then every
    master told. ``client``'s own map of the slots is left as it was."""
    source = client.nodes_manager.get_node_from_slot(slot)
    into, out = target.redis_connection, source.redis_connection
    target_id, source_id = into.cluster("myid"), out.cluster("myid")
    into.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source_id)
    out.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target_id)
    while keys := out.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
        out.execute_command("MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *keys)
    for node in client.get_primaries():
        node.redis_connection.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)
