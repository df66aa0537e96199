"""`deploy-platform rollback`, `promote` and `aliases` against a real control API."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from deploy_platform import cli
from deploy_platform.cli.aliases import cli_actor
from deploy_platform.cli.common import EXIT_BAD_INPUT, EXIT_UNREACHABLE
from deploy_platform.contracts.records import Status
from deploy_platform.processes.ports import free_port
from deploy_platform.publish.alias_moves import list_moves
from deploy_platform.publish.aliases import read_alias
from deploy_platform.storage.local import LocalObjectStore
from deploy_platform.storage.redis_state import PlatformState
from tests.support.api_fixtures import RunningApi
from tests.support.deployments import published

StartApi = Callable[..., RunningApi]


@pytest.fixture
def store(local_store_root: Path) -> LocalObjectStore:
    return LocalObjectStore(local_store_root)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_rollback_goes_back_and_says_from_what_to_what(
    running_api: StartApi,
    store: LocalObjectStore,
    state: PlatformState,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = running_api().url
    v1 = published(store, state, "docs", b"<h1>v1</h1>")
    v2 = published(store, state, "docs", b"<h1>v2</h1>")

    code, out, _ = run(capsys, "rollback", "docs", "--api", api)

    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"Rolled back: docs production now serves {v1.id} (was {v2.id})"
    assert "production  http://docs.localhost:8080/" in lines[1]
    assert read_alias(store, "docs") == v1.id
    newest = list_moves(store, "docs")[0]
    assert newest.actor == cli_actor() and newest.actor.startswith("cli:")
    assert newest.reason == "rollback"

    code, out, _ = run(capsys, "rollback", "docs", v2.id, "--api", api, "--json")
    assert code == 0
    answer = json.loads(out)
    assert (answer["from"], answer["to"], answer["moved"]) == (v1.id, v2.id, True)
    code, out, _ = run(capsys, "rollback", "docs", v2.id, "--api", api)
    assert out.splitlines()[0] == f"docs production already serves {v2.id}; nothing changed"


def test_promote_puts_a_preview_live(
    running_api: StartApi,
    store: LocalObjectStore,
    state: PlatformState,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = running_api().url
    live = published(store, state, "docs", b"<h1>live</h1>")
    preview = published(store, state, "docs", b"<h1>next</h1>", ref="feature/next")

    code, out, _ = run(capsys, "promote", preview.id, "--api", api)

    assert code == 0
    assert out.splitlines()[0] == (
        f"Promoted: docs production now serves {preview.id} (was {live.id})"
    )
    assert read_alias(store, "docs") == preview.id


def test_aliases_shows_what_serves_and_the_moves(
    running_api: StartApi,
    store: LocalObjectStore,
    state: PlatformState,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = running_api().url
    v1 = published(store, state, "docs", b"<h1>v1</h1>")
    v2 = published(store, state, "docs", b"<h1>v2</h1>")
    preview = published(store, state, "docs", b"<h1>p</h1>", ref="feature/p")
    run(capsys, "rollback", "docs", "--api", api)

    code, out, _ = run(capsys, "aliases", "docs", "--api", api)

    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ALIAS", "KIND", "DEPLOYMENT", "REF", "LAST", "MOVE", "URL"]
    assert lines[1].split()[:4] == ["docs", "production", v1.id, "main"]
    assert f"rollback by {cli_actor()}" in lines[1]
    assert lines[2].split()[:4] == ["feature-p--docs", "preview", preview.id, "feature/p"]
    assert "Alias moves, newest first (4 shown):" in lines
    moves = lines[lines.index("Alias moves, newest first (4 shown):") + 2 :]
    assert [line.split()[2:6] for line in moves] == [
        ["docs", v2.id, v1.id, "rollback"],
        ["feature-p--docs", "-", preview.id, "deploy"],
        ["docs", v1.id, v2.id, "deploy"],
        ["docs", "-", v1.id, "deploy"],
    ]

    code, out, _ = run(capsys, "aliases", "docs", "--format", "json", "--limit", "2", "--api", api)
    answer = json.loads(out)
    assert [a["alias"] for a in answer["aliases"]] == ["docs", "feature-p--docs"]
    assert [m["reason"] for m in answer["moves"]] == ["rollback", "deploy"]


def test_status_shows_environment_and_trigger(
    running_api: StartApi,
    store: LocalObjectStore,
    state: PlatformState,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = running_api().url
    preview = published(store, state, "docs", b"<h1>p</h1>", ref="feature/p")
    code, out, _ = run(capsys, "status", preview.id, "--api", api)
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    assert "docs (preview)" in rows["project"]
    assert rows["trigger"].split() == ["trigger", "api"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["rollback", "nothing"], "no project nothing"),
        (["rollback", "docs", "{preview}"], "use promote"),
        (["rollback", "docs", "{failed}"], "is failed"),
        (["rollback", "blog"], "no ready production deployment older than the live one"),
        (["promote", "{failed}"], "only a ready deployment can serve production"),
        (["aliases", "nothing"], "no project nothing"),
    ],
)
def test_refusals_exit_2_with_the_apis_message(
    running_api: StartApi,
    store: LocalObjectStore,
    state: PlatformState,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    says: str,
) -> None:
    api = running_api().url
    live = published(store, state, "docs", b"<h1>live</h1>")
    published(store, state, "blog", b"<h1>only one</h1>")
    ids = {
        "preview": published(store, state, "docs", b"<h1>p</h1>", ref="feature/p").id,
        "failed": published(store, state, "docs", b"", status=Status.FAILED).id,
    }

    code, out, err = run(capsys, *[arg.format(**ids) for arg in argv], "--api", api)

    assert code == EXIT_BAD_INPUT
    assert out == "" and says in err
    assert read_alias(store, "docs") == live.id


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["rollback", "Docs Site"], "lowercase letters"),
        (["rollback", "docs", "not-an-id"], "is not a deployment id"),
        (["promote", "k3v9"], "is not a deployment id"),
        (["aliases", "docs", "--limit", "0"], "--limit must be from 1 to 1000"),
        (["aliases", "docs", "--format", "yaml"], "invalid choice: 'yaml'"),
    ],
)
def test_bad_input_exits_2_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    # Nothing listens on this port: a request would exit 4 instead.
    code, _, err = run(capsys, *argv, "--api", f"http://127.0.0.1:{free_port()}")
    assert code == EXIT_BAD_INPUT
    assert says in err


def test_an_unreachable_api_exits_4(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "rollback", "docs", "--api", f"http://127.0.0.1:{free_port()}")
    assert code == EXIT_UNREACHABLE
    assert "Is the platform running?" in err
