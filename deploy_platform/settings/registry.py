"""Every environment variable the platform reads, declared once: type, default, readers, help.

The declarations are data, in `variables.toml` beside this module (its header
says what each key means); this module loads and checks them once, at import.
A leaf beside `contracts/`: the standard library only, so the edge-origin, the
CLI and the page generator read it without loading the rest of the platform.
The parts still parse their own variables (their messages name the variable and
the fix); tests hold them to the registry (`tests/settings/`): every `DP_*` name
in `deploy_platform/` and `serve/` is declared, the code location's `ENV_VARS`
are the variables `Reader.CODE_LOCATION` reads, `up` hands its children exactly
the `passed_by_up` ones, and docs/reference/configuration.md is generated from
it (`python -m deploy_platform.settings.reference`).
"""

from __future__ import annotations

import enum
import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Kind",
    "Reader",
    "Group",
    "Variable",
    "RegistryError",
    "VARIABLES",
    "variable",
    "default",
    "read_by",
    "passed_by_up",
    "by_group",
    "default_state_dir",
]


class Kind(enum.Enum):
    """How a value is written."""

    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    PATH = "path"
    URL = "URL"
    LIST = "comma list"
    CHOICE = "one of"


class Reader(enum.Enum):
    """The parts of the platform that read a variable, as the docs name them."""

    UP = "up"
    API = "control API"
    EDGE = "edge-origin"
    #: The Dagster definitions (resources, the retention job) read it through
    #: `dg.EnvVar`, so it must be set, possibly empty: `up` always sets it.
    CODE_LOCATION = "code location"
    #: The Dagster sensors, at each tick; unset means the default.
    SENSORS = "sensors"
    #: The build runner, in each run worker.
    BUILD = "build"
    CLI = "CLI"
    GC = "gc"
    NAMES = "names"


class Group(enum.Enum):
    """Sections of the configuration reference, in the order they are shown."""

    PLACES = "Where state lives"
    NAMES = "Resource names"
    URLS = "URLs and the control API"
    SOURCES = "Sources and their limits"
    BUILDS = "Builds"
    EDGE = "Edge-origin"
    CLOUDFLARE = "Cloudflare Worker KV indexes"
    GITHUB = "GitHub commit statuses"
    DAGSTER = "Dagster instance"
    RETENTION = "Retention"
    RETRIES = "Infrastructure retries"


@dataclass(frozen=True)
class Variable:
    """One declaration of variables.toml."""

    name: str
    kind: Kind
    group: Group
    #: Who reads it (`Reader.CODE_LOCATION`: must be set for the Dagster definitions).
    readers: tuple[Reader, ...]
    #: One line, for the reference page.
    help: str
    #: What unset means, written as the variable would be ("": empty or none).
    default: str = ""
    #: The default in words, when it is computed or needs explaining (the docs show it).
    shown_default: str = ""
    choices: tuple[str, ...] = ()
    #: Never printed: passwords, tokens, keys.
    secret: bool = False
    #: `deploy-platform up` always puts it in its children's environment (its
    #: resolved value, or empty when unset).
    passed_by_up: bool = False

    @property
    def type_name(self) -> str:
        if self.kind is Kind.CHOICE:
            return "one of " + ", ".join(self.choices)
        return f"secret {self.kind.value}" if self.secret else self.kind.value


def default_state_dir() -> Path:
    """DP_STATE_DIR when unset: `$XDG_STATE_HOME/deploy-platform`."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "deploy-platform"


_FILE = Path(__file__).with_name("variables.toml")
_LISTS = {"readers", "choices"}
_FLAGS = {"secret", "passed_by_up"}
_TEXTS = {"help", "default", "shown_default"}


class RegistryError(ValueError):
    """variables.toml holds something the registry does not understand; names where."""


def _declaration(name: str, entry: Mapping[str, Any]) -> Variable:
    unknown = set(entry) - _LISTS - _FLAGS - _TEXTS - {"kind", "group"}
    if unknown:
        raise RegistryError(f"{_FILE.name} [{name}]: unknown keys {sorted(unknown)}")
    for key in set(entry) & _TEXTS:
        if not isinstance(entry[key], str):
            raise RegistryError(f"{_FILE.name} [{name}]: {key} must be a string")
    for key in set(entry) & _FLAGS:
        if not isinstance(entry[key], bool):
            raise RegistryError(f"{_FILE.name} [{name}]: {key} must be true or false")
    try:
        return Variable(
            name=name,
            kind=Kind[entry["kind"].upper()],
            group=Group[entry["group"].upper()],
            readers=tuple(Reader[reader.upper()] for reader in entry["readers"]),
            help=entry["help"],
            default=entry.get("default", ""),
            shown_default=entry.get("shown_default", ""),
            choices=tuple(str(choice) for choice in entry.get("choices", ())),
            secret=entry.get("secret", False),
            passed_by_up=entry.get("passed_by_up", False),
        )
    except (KeyError, AttributeError, TypeError) as exc:
        raise RegistryError(f"{_FILE.name} [{name}]: missing or unknown {exc}") from None


def _load() -> dict[str, Variable]:
    with _FILE.open("rb") as file:
        table = tomllib.load(file)
    return {name: _declaration(name, entry) for name, entry in table.items()}


#: Every variable by name, in the order of the reference.
VARIABLES: dict[str, Variable] = _load()


def variable(name: str) -> Variable:
    """The declaration of `name`; KeyError for a variable nobody declared."""
    return VARIABLES[name]


def default(name: str) -> str:
    """What `name` unset means, written as it would be set."""
    return VARIABLES[name].default


def read_by(reader: Reader) -> tuple[str, ...]:
    """The names `reader` reads, in the order of the reference."""
    return tuple(name for name, v in VARIABLES.items() if reader in v.readers)


def passed_by_up() -> tuple[str, ...]:
    """The names `up` always puts in its children's environment."""
    return tuple(name for name, v in VARIABLES.items() if v.passed_by_up)


def by_group() -> Iterator[tuple[Group, list[Variable]]]:
    """The variables of each group, groups in their order, empty ones left out."""
    for group in Group:
        members = [v for v in VARIABLES.values() if v.group is group]
        if members:
            yield group, members
