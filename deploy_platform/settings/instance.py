"""The settings that shape the Dagster instance `up` writes (`instance/home.py`).

Read by `up` only, from the same `DP_*` environment as every other setting:

  DP_DAGSTER_POSTGRES_URL   run, event-log and schedule storage in PostgreSQL
                            (`dagster-postgres`) instead of SQLite under
                            DAGSTER_HOME: several daemons, webservers and run
                            workers on several machines then share one history.
                            dagster.yaml names the variable, never its value, so
                            the password stays out of the file. `postgresql://`,
                            `postgres://` and `postgresql+psycopg2://` are taken;
                            the processes get the last form (`sqlalchemy_url`):
                            SQLAlchemy 2.1 reads a bare `postgresql://` as
                            psycopg 3, and dagster-postgres ships psycopg2.
  DP_MAX_CONCURRENT_BUILDS  runs the queued run coordinator lets run at once (4).
  DP_BUILDS_PER_PROJECT     at most this many of them for one project (the
                            `deploy/project` run tag), so one busy repository
                            cannot hold every build slot; empty: no such limit.
  DP_DAGSTER_RUN_LAUNCHER   a YAML file with a `run_launcher:` section that
                            replaces the warm-process launcher, e.g. Docker or
                            Kubernetes for one build per container or pod
                            (examples in `examples/scale-out/`).
  DP_UI_IDLE_MINUTES        the Dagster UI starts on the first visit and stops
                            after this many minutes without one (10); 0: it
                            starts with `up` and keeps running.

Every bad value raises `ValueError` with the variable's name and what to write.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

__all__ = [
    "InstanceSettings",
    "POSTGRES_URL_VARIABLE",
    "INSTANCE_VARIABLES",
    "load_run_launcher",
    "check_postgres",
    "redacted_url",
    "sqlalchemy_url",
    "with_sqlalchemy_url",
]

POSTGRES_URL_VARIABLE = "DP_DAGSTER_POSTGRES_URL"
INSTANCE_VARIABLES = (
    POSTGRES_URL_VARIABLE,
    "DP_MAX_CONCURRENT_BUILDS",
    "DP_BUILDS_PER_PROJECT",
    "DP_DAGSTER_RUN_LAUNCHER",
    "DP_UI_IDLE_MINUTES",
)
_PASSWORD = re.compile(r"(//[^:/?#@]*:)[^@/?#]*@")
_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg2")
_DRIVER_SCHEME = "postgresql+psycopg2"


def redacted_url(url: str) -> str:
    """The URL with its password replaced by `***`, fit for messages and logs."""
    return _PASSWORD.sub(r"\1***@", url)


@dataclass(frozen=True)
class InstanceSettings:
    postgres_url: str = field(default="", repr=False)
    max_concurrent_builds: int = 4
    builds_per_project: int | None = None
    run_launcher: Mapping[str, Any] | None = None
    ui_idle_minutes: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> InstanceSettings:
        postgres_url = env.get(POSTGRES_URL_VARIABLE, "").strip()
        if postgres_url:
            _check_postgres_url(postgres_url)
        per_project = env.get("DP_BUILDS_PER_PROJECT", "").strip()
        launcher_file = env.get("DP_DAGSTER_RUN_LAUNCHER", "").strip()
        settings = cls(
            postgres_url=postgres_url,
            max_concurrent_builds=_positive(env, "DP_MAX_CONCURRENT_BUILDS", "4"),
            builds_per_project=_positive(env, "DP_BUILDS_PER_PROJECT") if per_project else None,
            run_launcher=load_run_launcher(Path(launcher_file)) if launcher_file else None,
            ui_idle_minutes=_minutes(env, "DP_UI_IDLE_MINUTES", "10"),
        )
        if (settings.builds_per_project or 0) > settings.max_concurrent_builds:
            raise ValueError(
                f"DP_BUILDS_PER_PROJECT={settings.builds_per_project} is more than "
                f"DP_MAX_CONCURRENT_BUILDS={settings.max_concurrent_builds}: lower it, or raise "
                "DP_MAX_CONCURRENT_BUILDS"
            )
        return settings


def _positive(env: Mapping[str, str], name: str, default: str = "") -> int:
    raw = env.get(name, "").strip() or default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{name}={raw!r} must be a whole number of at least 1")
    return value


def _minutes(env: Mapping[str, str], name: str, default: str) -> float:
    raw = env.get(name, "").strip() or default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 10080:  # 0 .. a week
        raise ValueError(f"{name}={raw!r} must be a number of minutes from 0 to 10080")
    return value


def _check_postgres_url(url: str) -> None:
    parts = urlsplit(url)
    shown = redacted_url(url)
    if parts.scheme not in _SCHEMES:
        raise ValueError(
            f"{POSTGRES_URL_VARIABLE}={shown!r} must be a PostgreSQL URL: "
            "postgresql://user:password@host:5432/database"
            + (" (the driver is psycopg2)" if parts.scheme.startswith("postgresql+") else "")
        )
    if not parts.hostname or not parts.path.strip("/"):
        raise ValueError(
            f"{POSTGRES_URL_VARIABLE}={shown!r} must name a host and a database: "
            "postgresql://user:password@host:5432/database"
        )


def sqlalchemy_url(url: str) -> str:
    """The URL with the driver dagster-postgres installs named: `postgresql+psycopg2://`."""
    scheme, sep, rest = url.partition("://")
    return f"{_DRIVER_SCHEME}://{rest}" if sep and scheme in _SCHEMES else url


def with_sqlalchemy_url(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with DP_DAGSTER_POSTGRES_URL (if set) in the form dagster.yaml's storage needs."""
    out = dict(env)
    if out.get(POSTGRES_URL_VARIABLE, "").strip():
        out[POSTGRES_URL_VARIABLE] = sqlalchemy_url(out[POSTGRES_URL_VARIABLE].strip())
    return out


def load_run_launcher(path: Path) -> dict[str, Any]:
    """The `run_launcher` section of the YAML file at `path` (module, class, config)."""
    where = f"DP_DAGSTER_RUN_LAUNCHER={str(path)!r}"
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ValueError(f"{where}: cannot read the file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{where} is not YAML: {exc}") from None
    section = document.get("run_launcher") if isinstance(document, dict) else None
    if not isinstance(section, dict):
        raise ValueError(f"{where} must hold a `run_launcher:` mapping (see examples/scale-out/)")
    missing = [name for name in ("module", "class") if not isinstance(section.get(name), str)]
    if missing:
        raise ValueError(f"{where}: `run_launcher` needs {' and '.join(missing)}")
    config = section.get("config", {})
    if not isinstance(config, dict):
        raise ValueError(f"{where}: `run_launcher.config` must be a mapping")
    return {"module": section["module"], "class": section["class"], "config": config}


def check_postgres(url: str, timeout_seconds: int = 5) -> None:
    """Connect once; raise ValueError saying what is wrong (never the password)."""
    import psycopg2  # dagster-postgres's driver

    scheme, _, rest = url.partition("://")
    libpq_url = f"postgresql://{rest}" if scheme in _SCHEMES else url  # libpq names no driver
    try:
        psycopg2.connect(libpq_url, connect_timeout=timeout_seconds).close()
    except psycopg2.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"cannot connect to {POSTGRES_URL_VARIABLE}={redacted_url(url)!r}: {reason}"
        ) from None
