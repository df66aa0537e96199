"""One DagsterInstance per instance ref for the sensors' own run queries, made once per process.

Why. In the code server every sensor evaluation gets a fresh `SensorEvaluationContext`
carrying only an `InstanceRef`; its `context.instance` builds a new `DagsterInstance`
from that ref (`DagsterInstance.from_ref`: the storage opened again and, over SQLite,
its alembic revision checked) and disposes of it when the tick ends. Measured on an
idle `up`, that was most of a tick's CPU. The instance a sensor queries runs with is
the same every tick, so `shared_instance(context)` makes it once per ref and hands
the same object to every later tick, whatever the sensor.

Thread safety. The code server evaluates sensors on a thread pool (one gRPC worker
per tick in flight: the queue lanes and the wait sensor hold theirs for tens of
seconds), so two first ticks can ask at the same moment: the instance is made under
a lock, and only once. The instance itself is shared across threads the way the
Dagster daemon shares its own across its sensor threads: its storages open a
connection per query (SQLite) or take one from a pool (Postgres).

It is never disposed: it lives as long as the code server, like the daemon's instance.
A context made in a test with `instance=` and no ref gets that instance back.
"""

from __future__ import annotations

import threading

import dagster as dg
from dagster._core.instance.ref import InstanceRef

__all__ = ["shared_instance", "instance_for_ref"]

_lock = threading.Lock()
_instances: dict[str, dg.DagsterInstance] = {}


def instance_for_ref(ref: InstanceRef) -> dg.DagsterInstance:
    """The process-wide instance for `ref`, made on the first call."""
    # An InstanceRef holds dicts (not hashable); its serialized form names it exactly.
    key = dg.serialize_value(ref)
    with _lock:
        instance = _instances.get(key)
        if instance is None:
            instance = dg.DagsterInstance.from_ref(ref)
            _instances[key] = instance
        return instance


def shared_instance(context: dg.SensorEvaluationContext) -> dg.DagsterInstance:
    """The instance this sensor's own code queries runs with (see the module)."""
    ref = context.instance_ref
    if ref is None:
        return context.instance  # built with `instance=` (tests): that one
    return instance_for_ref(ref)
