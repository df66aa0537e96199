"""The build-setting flags shared by `deploy` and `project create|update`, and the API's
`build` object they make."""

from __future__ import annotations

import argparse
import os
from typing import Any

from deploy_platform.cli import common

__all__ = ["add_build_flags", "build_settings"]


def add_build_flags(group: Any) -> None:
    """The build-setting flags; `build_settings` turns them into the API's `build` object."""
    group.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME[=VALUE]",
        help="a build variable; repeat for more. NAME alone takes the value from your "
        "environment (keeps secrets out of shell history). Values are sent to the "
        "platform for the build and never shown back (status prints ***)",
    )
    group.add_argument(
        "--root-dir",
        metavar="DIR",
        help="directory inside the repository to build (monorepos), e.g. apps/web",
    )
    group.add_argument(
        "--install-command",
        metavar="CMD",
        help='install command run by `sh -c`, e.g. "npm ci"; "" skips the install',
    )
    group.add_argument(
        "--build-command",
        metavar="CMD",
        help='build command run by `sh -c`, e.g. "npm run build"; "" skips the build',
    )
    group.add_argument(
        "--output-dir",
        metavar="DIR",
        help="directory the build writes the site into, relative to --root-dir, e.g. dist",
    )
    group.add_argument(
        "--node-version",
        metavar="RANGE",
        help="Node.js version or range to build with, e.g. 20, 20.11.1, >=18.12 or lts/*",
    )
    group.add_argument(
        "--package-manager",
        metavar="NAME[@VERSION]",
        help="npm, pnpm, yarn or bun, optionally with a version, e.g. pnpm@9",
    )


# Build setting -> the flag that sets it, for error messages.
_BUILD_FLAGS = {
    "root_directory": "--root-dir",
    "install_command": "--install-command",
    "build_command": "--build-command",
    "output_directory": "--output-dir",
    "node_version": "--node-version",
    "package_manager": "--package-manager",
    "env": "--env",
    "clean": "--clean",
}


def _build_env(items: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in items:
        name, has_value, value = item.partition("=")
        if not name:
            raise common.UsageError(
                f"--env {item[:40]!r}: give NAME=VALUE, or NAME to pass yours on"
            )
        if not has_value:
            if name not in os.environ:
                raise common.UsageError(
                    f"--env {name}: no value given and {name} is not set in your environment; "
                    f"use --env {name}=VALUE or export {name}"
                )
            value = os.environ[name]
        if name in env:
            raise common.UsageError(f"--env {name} is given more than once")
        env[name] = value
    return env


def build_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The API's `build` object from the flags, checked here so mistakes cost no upload."""
    from deploy_platform.build.settings import BuildSettings
    from deploy_platform.contracts.errors import InvalidRequest

    data: dict[str, Any] = {
        "root_directory": args.root_dir,
        "install_command": args.install_command,
        "build_command": args.build_command,
        "output_directory": args.output_dir,
        "node_version": args.node_version,
        "package_manager": args.package_manager,
    }
    data = {name: value for name, value in data.items() if value is not None}
    env = _build_env(args.env)
    if env:
        data["env"] = env
    if args.clean:
        data["clean"] = True
    try:
        BuildSettings.from_dict(data)
    except InvalidRequest as exc:
        setting = (exc.field or "").removeprefix("build.").split(".", 1)[0]
        flag = _BUILD_FLAGS.get(setting)
        raise common.UsageError(f"{flag}: {exc}" if flag else str(exc)) from None
    return data
