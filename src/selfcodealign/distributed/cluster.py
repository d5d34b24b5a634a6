"""Joining (or starting) the Ray cluster, and what it holds."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from selfcodealign.config.schema import ExecutorConfig
from selfcodealign.extras import require

log = logging.getLogger(__name__)

_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


def connect(cfg: ExecutorConfig) -> Any:
    """The `ray` module, initialised: joins `cfg.address` (or $RAY_ADDRESS), else starts a
    local instance with `cfg.num_cpus` CPUs. A session already initialised is reused."""
    ray = require("ray", extra="ray", feature="the Ray executor")
    if ray.is_initialized():
        return ray
    address = cfg.address or os.environ.get("RAY_ADDRESS") or None
    # Workers must import this package even when it is not installed on the nodes' default
    # path (a source checkout): ship its location with the job.
    env = {"env_vars": {"PYTHONPATH": os.pathsep.join(
        p for p in (_PACKAGE_PARENT, os.environ.get("PYTHONPATH", "")) if p)}}
    kwargs: dict[str, Any] = {"runtime_env": env, "log_to_driver": False,
                              "include_dashboard": False, "logging_level": logging.WARNING}
    if address:
        kwargs["address"] = address
    elif cfg.num_cpus:
        kwargs["num_cpus"] = cfg.num_cpus
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        from selfcodealign.errors import ConfigError

        where = address or "a local Ray instance"
        raise ConfigError(f"cannot connect to {where}: {str(exc).splitlines()[0]}") from None
    log.info("ray: %s", describe_cluster(ray))
    return ray


def describe_cluster(ray: Any) -> dict[str, Any]:
    """Nodes, CPUs and GPUs of the cluster (for logs and the run manifest)."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    total = ray.cluster_resources()
    return {"nodes": len(nodes), "cpus": int(total.get("CPU", 0)),
            "gpus": int(total.get("GPU", 0)), "ray": ray.__version__,
            "python": sys.version.split()[0]}


def alive_nodes(ray: Any) -> list[dict[str, Any]]:
    """The alive nodes with their CPU count, in a stable order."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return sorted(({"id": n["NodeID"], "cpus": int(n["Resources"].get("CPU", 0)),
                    "gpus": int(n["Resources"].get("GPU", 0))} for n in nodes),
                  key=lambda n: n["id"])


def get_when_ready(ray: Any, make_calls: Any, wait_s: float) -> list[Any]:
    """`ray.get` of the calls `make_calls()` returns, made again while an actor is restarting
    (ActorUnavailableError), for up to `wait_s` seconds."""
    import time

    from ray.exceptions import ActorUnavailableError

    deadline = time.monotonic() + wait_s
    while True:
        try:
            return list(ray.get(make_calls()))
        except ActorUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
