"""`deploy-platform domains add|list|remove` against a real control API."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from deploy_platform import cli
from deploy_platform.cli.common import EXIT_BAD_INPUT, EXIT_UNREACHABLE
from deploy_platform.processes.ports import free_port
from deploy_platform.storage.redis_state import PlatformState
from tests.support.api_fixtures import RunningApi

StartApi = Callable[..., RunningApi]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_list_remove(
    running_api: StartApi, state: PlatformState, capsys: pytest.CaptureFixture[str]
) -> None:
    api = running_api(base_domain="pages.test").url
    code, out, _ = run(
        capsys, "domains", "add", "WWW.Example.com.", "--project", "docs", "--api", api
    )
    assert (code, out) == (0, "www.example.com serves project docs\n")
    assert state.get_domain("www.example.com") == "docs"
    run(capsys, "domains", "add", "blog.example.net", "--project", "blog", "--api", api)

    code, out, _ = run(capsys, "domains", "list", "--api", api)
    assert code == 0
    assert out.splitlines() == [
        "HOSTNAME          PROJECT",
        "blog.example.net  blog",
        "www.example.com   docs",
    ]
    code, out, _ = run(capsys, "domains", "list", "--project", "docs", "--json", "--api", api)
    assert [d["hostname"] for d in json.loads(out)["domains"]] == ["www.example.com"]

    code, out, _ = run(capsys, "domains", "remove", "www.example.com", "--api", api)
    assert code == 0
    assert out == "www.example.com removed (it served project docs; deployments are unchanged)\n"
    code, out, _ = run(capsys, "domains", "list", "--project", "docs", "--api", api)
    assert out == "no custom domains for project docs\n"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["add", "docs.pages.test", "--project", "docs"], "under the platform's base domain"),
        (["add", "blog.example.com", "--project", "docs"], "already serves project blog"),
        (["remove", "nothing.example.com"], "is not mapped to any project"),
    ],
)
def test_refusals_from_the_api_exit_2_with_its_message(
    running_api: StartApi,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    says: str,
) -> None:
    api = running_api(base_domain="pages.test").url
    run(capsys, "domains", "add", "blog.example.com", "--project", "blog", "--api", api)
    code, out, err = run(capsys, "domains", *argv, "--api", api)
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert says in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["add", "localhost", "--project", "docs"], "single label"),
        (["add", "www.example.com:443", "--project", "docs"], "port"),
        (["add", "www.example.com", "--project", "Docs Site"], "--project:"),
        (["remove", "*.example.com"], "wildcard"),
        (["list", "--project", "-x-"], "--project:"),
    ],
)
def test_bad_input_exits_2_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    # Nothing listens on this port: a request would exit 4 instead.
    api = f"http://127.0.0.1:{free_port()}"
    code, _, err = run(capsys, "domains", *argv, "--api", api)
    assert code == EXIT_BAD_INPUT
    assert says in err


def test_an_unreachable_api_exits_4(capsys: pytest.CaptureFixture[str]) -> None:
    api = f"http://127.0.0.1:{free_port()}"
    code, _, err = run(capsys, "domains", "list", "--api", api)
    assert code == EXIT_UNREACHABLE
    assert "Is the platform running?" in err
