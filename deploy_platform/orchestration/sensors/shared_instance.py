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

Every tick, not only our queries. Dagster itself asks `context.instance` before our
code runs: to build the sensor's resources (`context.resources`), for `context.log`,
and in the run-status sensors' wrapper (failure, checks), which reads the run events.
So `share_across_ticks()` (called by definitions.py when the code location loads)
makes `SensorEvaluationContext.instance` return the shared instance when the context
has a ref and no instance yet; without it each tick still made its own (measured: one
`from_ref` per tick either way). It replaces that one property, relying on two
private attributes of the pinned Dagster version; if they are missing it changes
nothing and the ticks work as before, each with its own instance.
"""

from __future__ import annotations

import threading

import dagster as dg
from dagster._core.instance.ref import InstanceRef

__all__ = ["shared_instance", "instance_for_ref", "share_across_ticks"]

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


_installed = False


def share_across_ticks() -> bool:
    """Make every sensor context in this process use the shared instance; True once it does."""
    global _installed
    with _lock:
        if _installed:
            return True
        probe = dg.SensorEvaluationContext(instance_ref=None)
        if not (hasattr(probe, "_instance") and hasattr(probe, "_instance_ref")):
            return False  # another Dagster: leave its contexts alone
        own = dg.SensorEvaluationContext.instance

        def instance(self: dg.SensorEvaluationContext) -> dg.DagsterInstance:
            if self._instance is None and self._instance_ref is not None:
                # Not entered in the context's exit stack: the tick's end leaves it open.
                self._instance = instance_for_ref(self._instance_ref)
            return own.fget(self)  # type: ignore[attr-defined,no-any-return]

        instance.__doc__ = own.__doc__
        dg.SensorEvaluationContext.instance = property(instance)  # type: ignore[method-assign,assignment]
        _installed = True
        return True
