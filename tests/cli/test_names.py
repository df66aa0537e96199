"""`deploy-platform names`: text, JSON and wrangler.toml output, and the committed file."""

from __future__ import annotations

import json
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest

from deploy_platform import cli
from tests.support.environment import PlatformEnv

WRANGLER_TOML = Path(__file__).resolve().parents[2] / "edge-worker" / "wrangler.toml"
ACME = ["--customer", "acme", "--project", "pages"]


@pytest.fixture(autouse=True)
def no_naming_env(platform_env: PlatformEnv) -> None:
    """Names come from the flags unless a test sets the variables."""
    platform_env.unset("DP_CUSTOMER", "DP_PROJECT", "DP_ENVIRONMENT")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["names", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_text_output_lists_each_name_and_where_it_goes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *ACME, "--environment", "prod")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "prod (customer acme, project pages)"
    assert len(lines) == 8
    text = "\n".join(lines)
    kv = [line.split()[4] for line in lines if line.strip().startswith("Workers KV namespace")]
    assert kv == ["acme-pages-prod-aliases", "acme-pages-prod-domains"]
    for title, name in [
        ("Cloudflare Worker name", "acme-pages-prod-edge"),
        ("S3/R2 bucket name", "acme-pages-prod-assets"),
        ("object-store key prefix", "acme-pages-prod-assets/"),
        ("edge-origin host label", "acme-pages-prod-origin"),
        ("Redis key prefix", "acme-pages-prod-state:"),
    ]:
        (line,) = [line for line in lines if line.strip().startswith(title)]
        assert line.split()[len(title.split())] == name, text


def test_json_output_per_environment_with_hosts_when_a_zone_is_given(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys,
        *ACME,
        "--environment",
        "prod",
        "--environment",
        "dev",
        "--zone",
        "acme.example",
        "--json",
    )
    assert code == 0
    answer = json.loads(out)
    assert answer["customer"] == "acme" and answer["project"] == "pages"
    assert list(answer["environments"]) == ["prod", "dev"]
    assert answer["environments"]["dev"] == {
        "worker": "acme-pages-dev-edge",
        "bucket": "acme-pages-dev-assets",
        "object_prefix": "acme-pages-dev-assets/",
        "kv_namespace": "acme-pages-dev-aliases",
        "kv_domains_namespace": "acme-pages-dev-domains",
        "origin_host_label": "acme-pages-dev-origin",
        "redis_prefix": "acme-pages-dev-state:",
        "base_domain": "dev-pages.acme.example",
        "origin_host": "acme-pages-dev-origin.acme.example",
    }
    assert answer["environments"]["prod"]["base_domain"] == "pages.acme.example"


def test_the_configuration_comes_from_the_environment_and_flags_win(
    capsys: pytest.CaptureFixture[str], platform_env: PlatformEnv
) -> None:
    platform_env.set(DP_CUSTOMER="globex", DP_PROJECT="sites", DP_ENVIRONMENT="staging")
    code, out, _ = run(capsys, "--json")
    assert code == 0
    assert json.loads(out)["environments"]["staging"]["worker"] == "globex-sites-staging-edge"
    code, out, _ = run(capsys, "--json", "--customer", "initech", "--environment", "dev")
    environments = json.loads(out)["environments"]
    assert list(environments) == ["dev"]
    assert environments["dev"]["bucket"] == "initech-sites-dev-assets"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--project", "pages", "--environment", "prod"], "give --customer or set DP_CUSTOMER"),
        (["--customer", "acme", "--environment", "prod"], "give --project or set DP_PROJECT"),
        (ACME, "give --environment (prod, staging, dev; repeat for several)"),
        ([*ACME, "--environment", "production"], "environment 'production' must be one of"),
        (["--customer", "Acme", "--project", "pages", "--environment", "prod"], "(try 'acme')"),
        (["--customer", "acme--x", "--project", "pages", "--environment", "prod"], "has a hyphen"),
        (["--customer", "äcme", "--project", "pages", "--environment", "prod"], "non-ASCII"),
        (
            ["--customer", "c" * 50, "--project", "pages", "--environment", "prod"],
            "over the limit of 63",
        ),
        ([*ACME, "--environment", "prod", "--environment", "prod"], "given more than once"),
        ([*ACME, "--environment", "prod", "--wrangler"], "--wrangler needs --zone"),
        ([*ACME, "--environment", "prod", "--zone", "acme..example"], "zone: hostname"),
        (
            [*ACME, "--environment", "prod", "--zone", "acme.example", "--base-domain", "pages"],
            "give ENV=DOMAIN",
        ),
        (
            [
                *ACME,
                "--environment",
                "prod",
                "--zone",
                "z.example",
                "--base-domain",
                "dev=d.example",
            ],
            "not among the environments",
        ),
        (
            [
                *ACME,
                "--environment",
                "prod",
                "--zone",
                "acme.example",
                "--base-domain",
                "prod=acme.example",
            ],
            "would route its own origin requests to itself",
        ),
    ],
)
def test_bad_input_exits_2_and_says_what_to_fix(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err


def _generated_by(text: str) -> list[str]:
    first = text.splitlines()[0]
    assert first.startswith("# Generated by `deploy-platform names "), first
    return shlex.split(first.split("`")[1])[1:]


def test_the_committed_wrangler_toml_is_what_its_command_generates(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Guards against drift: the file is the generator's output for its documented command."""
    committed = WRANGLER_TOML.read_text()
    argv = _generated_by(committed)
    assert argv == [
        "names",
        "--wrangler",
        *ACME,
        "--environment",
        "prod",
        "--environment",
        "staging",
        "--zone",
        "acme.example",
    ]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out == committed


def test_a_generated_wrangler_toml_names_everything_for_its_configuration(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys,
        "--wrangler",
        "--customer",
        "globex",
        "--project",
        "sites",
        "--environment",
        "staging",
        "--environment",
        "prod",
        "--zone",
        "globex.example",
        "--base-domain",
        "prod=www-sites.globex.example",
    )
    assert code == 0
    config: dict[str, Any] = tomllib.loads(out)
    # The first environment is the top level.
    assert config["name"] == "globex-sites-staging-edge"
    assert config["vars"]["BASE_DOMAIN"] == "staging-sites.globex.example"
    assert config["routes"] == [
        {"pattern": "*.staging-sites.globex.example/*", "zone_name": "globex.example"}
    ]
    assert config["r2_buckets"] == [
        {"binding": "SITES", "bucket_name": "globex-sites-staging-assets"}
    ]
    assert config["main"] == "src/index.js" and config["workers_dev"] is False
    prod = config["env"]["prod"]
    assert prod["name"] == "globex-sites-prod-edge"
    assert prod["vars"] == {"BASE_DOMAIN": "www-sites.globex.example"}
    assert prod["routes"] == [
        {"pattern": "*.www-sites.globex.example/*", "zone_name": "globex.example"}
    ]
    assert prod["r2_buckets"] == [{"binding": "SITES", "bucket_name": "globex-sites-prod-assets"}]
    assert set(config["env"]) == {"prod"}
    # The commented examples name this configuration's resources too.
    assert "globex-sites-staging-aliases" in out and "globex-sites-prod-aliases" in out
    assert "https://globex-sites-staging-origin.globex.example" in out
    assert "acme" not in out
    # Its first line regenerates it, --base-domain included.
    assert cli.main(_generated_by(out)) == 0
    assert capsys.readouterr().out == out


def test_help_lists_names_and_its_variables(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    assert "names" in capsys.readouterr().out
    assert cli.main(["names", "--help"]) == 0
    out = capsys.readouterr().out
    for text in ("$DP_CUSTOMER", "$DP_PROJECT", "$DP_ENVIRONMENT", "--wrangler", "--zone"):
        assert text in out
