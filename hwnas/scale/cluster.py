"""Joining a Ray cluster (or starting a local one), and checking a task's resources against its nodes.

Every problem a user can fix is a `UsageError` raised before any task is submitted: a malformed address,
a head nobody answers at (probed with a plain TCP connection first, because `ray.init` keeps retrying an
unreachable head for minutes), or a resource request that no node of the cluster can satisfy (Ray would
keep such a task pending forever).
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any, Final

from hwnas.errors import UsageError

DEFAULT_TASK_RESOURCES: Final = {"CPU": 1.0}
"""What one task asks for unless told otherwise: hwnas runs torch and searchers single-threaded."""
TASK_RETRIES: Final = 2
"""Tries after the first when a task's worker dies (killed, out of memory, node lost)."""
PROBE_TIMEOUT_S: Final = 3.0
TOKEN_HINT: Final = (
    "the cluster asks for a token; set RAY_AUTH_MODE=token and give its token "
    "(~/.ray/auth_token or RAY_AUTH_TOKEN, from `ray get-auth-token` on the head)"
)
HOST_PORT: Final = re.compile(r"(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})")


def check_address(address: str) -> tuple[str, int] | None:
    """(host, port) of a `HOST:PORT` address, None for `auto`; a `UsageError` for anything else."""
    if address == "auto":
        return None
    match = HOST_PORT.fullmatch(address)
    if match is None or not 0 < int(match["port"]) < 65536:
        raise UsageError(f"--ray-address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379) or auto")
    return match["host"].strip("[]"), int(match["port"])


def probe(host: str, port: int, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Open and close a TCP connection to the head, or say in one line why it cannot be reached."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise UsageError(
            f"--ray-address {host}:{port}: no Ray head answers there ({reason}); "
            "start one with `ray start --head` or check the address"
        ) from None


def connect(address: str | None) -> Any:
    """The `ray` module, connected to the cluster at `address`.

    None joins the cluster `RAY_ADDRESS` names, else starts a local instance with every core: never the
    cluster last started on this machine, as `ray.init()` would, because a head that died leaves its
    address behind and `ray.init()` then waits for it for minutes. A process already connected keeps its
    connection (a test session's instance, a second campaign in the same process).
    """
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is not None:
        where = check_address(address)
        if where is not None:
            probe(*where)
    import ray

    if ray.is_initialized():
        return ray
    if address is None:
        ray.init(address="local", logging_level=logging.ERROR, include_dashboard=False)
        return ray
    with tempfile.TemporaryFile() as captured:
        try:
            with _stderr_to(captured):  # Ray's core logs every failed try; the user gets one line
                ray.init(address=address, logging_level=logging.ERROR)
        except ConnectionError as error:
            captured.seek(0)
            hint = TOKEN_HINT if b"InvalidAuthToken" in captured.read() else str(error).splitlines()[0]
            raise UsageError(f"--ray-address {address}: {hint}") from None
    return ray


@contextmanager
def _stderr_to(target: IO[bytes]) -> Iterator[None]:
    """Send this process's file descriptor 2 to `target` meanwhile (also what native code writes there)."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(target.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def alive_nodes(ray: Any) -> list[dict[str, float]]:
    """The total resources of each node of the cluster that is alive."""
    return [dict(node["Resources"]) for node in ray.nodes() if node.get("Alive")]


def task_resources(requested: Mapping[str, float]) -> dict[str, float]:
    """The request of one task: `requested`, else `DEFAULT_TASK_RESOURCES` (a named resource alone adds CPU=1)."""
    resources = dict(requested) or dict(DEFAULT_TASK_RESOURCES)
    resources.setdefault("CPU", DEFAULT_TASK_RESOURCES["CPU"])
    return resources


def check_feasible(ray: Any, resources: Mapping[str, float]) -> int:
    """How many such tasks the cluster can run at once; a `UsageError` if no node can run even one."""
    nodes = alive_nodes(ray)
    slots = sum(_fits(node, resources) for node in nodes)
    if slots == 0:
        wanted = ",".join(f"{name}={amount:g}" for name, amount in resources.items())
        largest = ", ".join(sorted({f"{name}={max(n.get(name, 0.0) for n in nodes):g}" for name in resources}))
        raise UsageError(
            f"no node of the Ray cluster can run a task asking for {wanted} (the most any node has: {largest}); "
            "lower --ray-resources or start a node that has them (`ray start --resources=...`)"
        )
    return slots


def _fits(node: Mapping[str, float], resources: Mapping[str, float]) -> int:
    """How many tasks asking for `resources` fit on a node with these totals."""
    counts = [math.floor(node.get(name, 0.0) / amount + 1e-9) for name, amount in resources.items() if amount > 0]
    return min(counts) if counts else 1
