"""`python -m deploy_platform.api --host 127.0.0.1 --port 8000`: serve the control API.

Reads the platform's `DP_*` settings from the environment; the object store's
credentials come from DP_S3_ACCESS_KEY_ID / DP_S3_SECRET_ACCESS_KEY, and the
Cloudflare Worker's KV domain index from DP_CF_* (see deploy_platform.publish.cloudflare_kv).

DP_API_HEADER_TIMEOUT_SECONDS (15): a connection whose request headers are not
complete this long after it opened (or after its previous answer) is closed, as
is a keep-alive connection idle that long; a body still arriving is not cut.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping

from aiohttp import web

from deploy_platform.api.app import StartupError, create_app
from deploy_platform.publish.cloudflare_kv import KVConfig, KVConfigError
from deploy_platform.settings.platform import Settings

__all__ = ["HEADER_TIMEOUT_SECONDS", "header_timeout_from_env", "main"]

HEADER_TIMEOUT_SECONDS = 15.0


def header_timeout_from_env(env: Mapping[str, str]) -> float:
    """DP_API_HEADER_TIMEOUT_SECONDS, or the default; ValueError naming it when bad."""
    raw = env.get("DP_API_HEADER_TIMEOUT_SECONDS", "").strip()
    if not raw:
        return HEADER_TIMEOUT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ValueError(f"DP_API_HEADER_TIMEOUT_SECONDS={raw!r} must be a number of seconds > 0")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy_platform.api",
        description="Serve the deploy-platform control API. Settings come from DP_* "
        "environment variables (DP_REDIS_URL is required; `deploy-platform up` sets them).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"error: bad setting in the environment: {exc}", file=sys.stderr)
        return 2
    if not settings.redis_url:
        print(
            "error: DP_REDIS_URL is not set; point it at the platform's Redis "
            "(for example redis://127.0.0.1:6379/0), or run `deploy-platform up`",
            file=sys.stderr,
        )
        return 2
    try:
        header_timeout = header_timeout_from_env(os.environ)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        kv = KVConfig.from_env(os.environ)
    except KVConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        app = create_app(
            settings,
            access_key_id=os.environ.get("DP_S3_ACCESS_KEY_ID") or None,
            secret_access_key=os.environ.get("DP_S3_SECRET_ACCESS_KEY") or None,
            kv=kv,
        )
        web.run_app(
            app,
            host=args.host,
            port=args.port,
            # aiohttp's keep-alive timer also runs while a request's head arrives:
            # it is the header timeout (half-sent requests are not kept forever).
            keepalive_timeout=header_timeout,
        )
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
