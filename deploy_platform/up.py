"""`deploy-platform up`: start every part on embedded defaults (being written)."""

from __future__ import annotations

import argparse

__all__ = ["add_up_arguments", "run_up"]


def add_up_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir", help="where state lives (default: ~/.local/state/deploy-platform)"
    )
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--edge-port", type=int, default=8080)
    parser.add_argument("--ui-port", type=int, default=3000)
    parser.add_argument("--sample", action="store_true", help="deploy the bundled sample site")


def run_up(args: argparse.Namespace) -> int:
    raise NotImplementedError
