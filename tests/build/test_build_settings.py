"""Per-project build settings: what is accepted, and the errors for what is not."""

from __future__ import annotations

import pytest

from deploy_platform.build.settings import BuildSettings
from deploy_platform.contracts.errors import InvalidRequest


def test_full_settings_round_trip_and_normalize() -> None:
    data = {
        "root_directory": "apps/web/",
        "install_command": "pnpm install --filter web...",
        "build_command": "pnpm --filter web build",
        "output_directory": "./dist",
        "node_version": " 20 ",
        "package_manager": "pnpm@9.12.0",
        "env": {
            "VITE_API_URL": "https://api.example.com",
            "NODE_OPTIONS": "--max-old-space-size=2048",
        },
        "clean": True,
    }
    settings = BuildSettings.from_dict(data)
    assert settings.root_directory == "apps/web"
    assert settings.output_directory == "dist"
    assert settings.node_version == "20"
    assert settings.package_manager == "pnpm@9.12.0"
    assert settings.clean is True
    assert BuildSettings.from_dict(settings.to_dict()) == settings


def test_absent_or_empty_settings_are_the_defaults() -> None:
    assert BuildSettings.from_dict(None) == BuildSettings()
    assert BuildSettings.from_dict({}) == BuildSettings()
    # "." as the root directory is the repository root: the same as unset.
    assert BuildSettings.from_dict({"root_directory": "."}).root_directory is None


def test_empty_command_means_skip_and_is_kept() -> None:
    settings = BuildSettings.from_dict({"install_command": ""})
    assert settings.install_command == ""


def test_redacted_hides_every_variable_value_but_keeps_names() -> None:
    settings = BuildSettings.from_dict({"env": {"API_TOKEN": "s3cr3t", "VITE_X": "1"}})
    shown = settings.redacted()
    assert shown["env"] == {"API_TOKEN": "***", "VITE_X": "***"}
    assert "s3cr3t" not in repr(shown)
    assert settings.to_dict()["env"]["API_TOKEN"] == "s3cr3t"


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ("npm run build", "build", "must be an object"),
        ({"buildCommand": "x"}, "build.buildCommand", "unknown build setting 'buildCommand'"),
        ({"root_directory": "/srv/app"}, "build.root_directory", "not absolute"),
        ({"root_directory": "apps/../../etc"}, "build.root_directory", "remove '..'"),
        ({"root_directory": "apps\\web"}, "build.root_directory", "'/'"),
        ({"root_directory": "  "}, "build.root_directory", "is empty"),
        ({"output_directory": "../out"}, "build.output_directory", "stay inside"),
        ({"output_directory": 3}, "build.output_directory", "must be a string"),
        ({"build_command": ["npm", "run", "build"]}, "build.build_command", "must be a string"),
        ({"build_command": "x" * 5000}, "build.build_command", "longer than 4096"),
        ({"node_version": ">= banana"}, "build.node_version", "such as 20"),
        ({"node_version": "lts/unicorn"}, "build.node_version", "unknown LTS codename"),
        ({"package_manager": "pnpm 9"}, "build.package_manager", "pnpm@9.12.0"),
        ({"package_manager": "deno@2"}, "build.package_manager", "npm, pnpm, yarn or bun"),
        ({"env": ["A=1"]}, "build.env", "object of names to strings"),
        ({"env": {"1ABC": "x"}}, "build.env.1ABC", "letters, digits and '_'"),
        ({"env": {"MY-VAR": "x"}}, "build.env.MY-VAR", "letters, digits and '_'"),
        ({"env": {"PATH": "/tmp"}}, "build.env.PATH", "the platform sets it"),
        ({"env": {"HOME": "/tmp"}}, "build.env.HOME", "the platform sets it"),
        ({"env": {"LD_PRELOAD": "x.so"}}, "build.env.LD_PRELOAD", "LD_ or DP_"),
        ({"env": {"DP_S3_SECRET_ACCESS_KEY": "x"}}, "build.env.DP_S3_SECRET_ACCESS_KEY", "DP_"),
        ({"env": {"NPM_CONFIG_CACHE": "/x"}}, "build.env.NPM_CONFIG_CACHE", "platform sets"),
        ({"env": {"TOKEN": 5}}, "build.env.TOKEN", "must be a string"),
        ({"env": {"TOKEN": "a\x00b"}}, "build.env.TOKEN", "NUL"),
        ({"env": {f"V{i}": "x" for i in range(201)}}, "build.env", "at most 200"),
        ({"clean": "yes"}, "build.clean", "true or false"),
    ],
)
def test_bad_settings_name_the_field_and_the_fix(data: object, field: str, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        BuildSettings.from_dict(data)
    assert caught.value.field == field
    assert fragment in str(caught.value)


def test_a_secret_value_is_never_echoed_in_an_error() -> None:
    with pytest.raises(InvalidRequest) as caught:
        BuildSettings.from_dict({"env": {"TOKEN": "x" * 70_000}})
    assert "xxxx" not in str(caught.value)


@pytest.mark.parametrize(
    "name", ["NODE_OPTIONS", "NODE_ENV", "CI", "npm_config_registry", "PUBLIC_URL"]
)
def test_build_variables_users_need_are_allowed(name: str) -> None:
    assert BuildSettings.from_dict({"env": {name: "v"}}).env == {name: "v"}
