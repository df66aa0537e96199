"""npm-compatible Node ranges and choosing the Node a build runs on."""

from __future__ import annotations

import pytest

from deploy_platform.build.node_versions import (
    KNOWN_NODE_VERSIONS,
    InvalidRange,
    parse_range,
    parse_version,
    resolve_node_version,
)
from deploy_platform.contracts.errors import BuildFailed

# (range, version, matches) — expectations follow node-semver's documented desugaring.
SEMVER_CASES = [
    # bare and x-ranges
    ("18", "18.0.0", True),
    ("18", "18.20.8", True),
    ("18", "19.0.0", False),
    ("18", "17.9.1", False),
    ("18.x", "18.5.0", True),
    ("18.X", "19.0.0", False),
    ("18.2", "18.2.9", True),
    ("18.2", "18.3.0", False),
    ("18.2.*", "18.2.1", True),
    ("*", "0.0.1", True),
    ("x", "26.10.0", True),
    ("", "20.0.0", True),
    ("v18.1.0", "18.1.0", True),
    ("v18.1.0", "18.1.1", False),
    ("=20.11.1", "20.11.1", True),
    # comparators
    (">=18.12", "18.12.0", True),
    (">=18.12", "18.11.9", False),
    (">= 18", "22.0.0", True),
    (">18", "18.20.8", False),
    (">18", "19.0.0", True),
    (">18.2", "18.2.9", False),
    (">18.2", "18.3.0", True),
    ("<20", "19.8.1", True),
    ("<20", "20.0.0", False),
    ("<=20", "20.20.2", True),
    ("<=20", "21.0.0", False),
    ("<=20.1", "20.1.5", True),
    ("<=20.1", "20.2.0", False),
    (">=18 <21", "20.9.0", True),
    (">=18 <21", "21.0.0", False),
    (">18.0.0", "18.0.0", False),
    ("<18.0.0", "17.9.1", True),
    # caret
    ("^18.12.0", "18.20.8", True),
    ("^18.12.0", "19.0.0", False),
    ("^18.12.0", "18.11.0", False),
    ("^0.2.3", "0.2.9", True),
    ("^0.2.3", "0.3.0", False),
    ("^0.0.3", "0.0.3", True),
    ("^0.0.3", "0.0.4", False),
    ("^0.x", "0.9.0", True),
    ("^0.x", "1.0.0", False),
    ("^0.0", "0.0.9", True),
    ("^0.0", "0.1.0", False),
    ("^18", "18.99.0", True),
    ("^18.x", "19.0.0", False),
    # tilde
    ("~18.12.1", "18.12.9", True),
    ("~18.12.1", "18.13.0", False),
    ("~18.12.1", "18.12.0", False),
    ("~18", "18.20.0", True),
    ("~18", "19.0.0", False),
    ("~>18.2", "18.2.4", True),
    # hyphen ranges
    ("16 - 18", "18.20.8", True),
    ("16 - 18", "19.0.0", False),
    ("16 - 18", "15.9.0", False),
    ("1.2 - 2", "2.9.9", True),
    ("1.2 - 2", "1.1.9", False),
    ("18.0.0 - 20.3", "20.3.9", True),
    ("18.0.0 - 20.3", "20.4.0", False),
    ("18.0.0 - 20.3.0", "20.3.0", True),
    ("18.0.0 - 20.3.0", "20.3.1", False),
    # unions
    ("^14.17.0 || ^16.13.0 || >=18.0.0", "16.12.0", False),
    ("^14.17.0 || ^16.13.0 || >=18.0.0", "16.13.0", True),
    ("^14.17.0 || ^16.13.0 || >=18.0.0", "26.0.0", True),
    ("^18.17.0 || >=20.5.0", "20.4.0", False),
    ("^18.17.0 || >=20.5.0", "18.17.0", True),
    (">=12 <14 || 14.2 - 14.9 || >14.10.0", "14.10.0", False),
    (">=12 <14 || 14.2 - 14.9 || >14.10.0", "14.9.3", True),
    # prereleases only match a range naming a prerelease of the same version
    (">=18", "19.0.0-rc.1", False),
    (">=19.0.0-rc.0", "19.0.0-rc.1", True),
    (">=19.0.0-rc.0", "19.0.1-rc.1", False),
    # nvm aliases
    ("lts/*", "20.9.0", True),
    ("lts/*", "21.7.3", False),
    ("lts/iron", "20.20.2", True),
    ("lts/iron", "22.0.0", False),
    ("lts/Hydrogen", "18.12.0", True),
    ("node", "25.9.0", True),
    ("latest", "0.12.0", True),
]


@pytest.mark.parametrize(("text", "version", "expected"), SEMVER_CASES)
def test_range_matching_follows_node_semver(text: str, version: str, expected: bool) -> None:
    assert parse_range(text).matches(version) is expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (">= banana", "banana"),
        ("18.x.y.z", "18.x.y.z"),
        (">=", "cannot read"),
        ("lts/unicorn", "unknown LTS codename"),
        ("^^18", "^18"),
        ("1" * 300, "longer than 256"),
    ],
)
def test_bad_ranges_say_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(InvalidRange) as caught:
        parse_range(text)
    assert fragment in str(caught.value)


def test_versions_order_like_semver() -> None:
    ordered = ["18.0.0-rc.1", "18.0.0-rc.2", "18.0.0", "18.0.1", "18.10.0", "19.0.0"]
    parsed = [parse_version(v) for v in reversed(ordered)]
    assert [str(v) for v in sorted(parsed)] == ordered
    with pytest.raises(InvalidRange):
        parse_version("18.0")


# (constraints, expected) against KNOWN_NODE_VERSIONS
RESOLUTION_CASES = [
    ([], "26.10.0"),  # newest LTS line (even major)
    ([("engines.node in package.json", ">=18")], "26.10.0"),
    ([("engines.node in package.json", "<25")], "24.21.0"),
    ([("engines.node in package.json", "^21")], "21.7.3"),  # no LTS matches: newest match
    ([(".nvmrc", "lts/iron")], "20.20.2"),
    ([(".nvmrc", "lts/*")], "26.10.0"),
    ([(".nvmrc", "node")], "26.10.0"),
    ([(".nvmrc", "node"), ("engines.node in package.json", "<26")], "25.9.0"),
    ([(".nvmrc", "18.17.1")], "18.17.1"),
    ([("project setting", "20"), ("pnpm 9", ">=18.12")], "20.20.2"),
    ([("engines.node", ">=16 <23"), ("yarn 4", ">=18.12.0")], "22.23.3"),
    ([("engines.node", "16.x"), (".node-version", "v16.14.0")], "16.14.0"),
]


@pytest.mark.parametrize(("constraints", "expected"), RESOLUTION_CASES)
def test_resolution_picks_newest_lts_satisfying_all(
    constraints: list[tuple[str, str]], expected: str
) -> None:
    assert resolve_node_version(constraints, KNOWN_NODE_VERSIONS) == expected


def test_resolution_ignores_prereleases_and_junk_in_available() -> None:
    available = ["20.1.0", "22.0.0-rc.1", "not-a-version", "v21.0.0"]
    assert resolve_node_version([("engines.node", ">=20")], available) == "20.1.0"
    assert resolve_node_version([("engines.node", ">=21")], available) == "21.0.0"


def test_unsatisfiable_constraints_name_each_source() -> None:
    constraints = [("engines.node in package.json", ">=22"), (".nvmrc", "18")]
    with pytest.raises(BuildFailed) as caught:
        resolve_node_version(constraints, KNOWN_NODE_VERSIONS)
    message = str(caught.value)
    assert "engines.node in package.json asks for '>=22' (newest match 26.10.0)" in message
    assert ".nvmrc asks for '18' (newest match 18.20.8)" in message


def test_constraint_nothing_available_satisfies_says_so() -> None:
    with pytest.raises(BuildFailed, match="'>=99' \\(no available version matches it\\)"):
        resolve_node_version([("engines.node in package.json", ">=99")], KNOWN_NODE_VERSIONS)


def test_invalid_constraint_names_its_source() -> None:
    with pytest.raises(BuildFailed, match="from .nvmrc is not usable"):
        resolve_node_version([(".nvmrc", "lts/unicorn")], KNOWN_NODE_VERSIONS)


def test_no_available_versions_is_a_clear_failure() -> None:
    with pytest.raises(BuildFailed, match="no Node.js versions are available"):
        resolve_node_version([], [])
