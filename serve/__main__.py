"""`python -m serve`: run the edge-origin on one address until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from deploy_platform.settings import Settings
from serve.app import create_app
from serve.config import EdgeConfig, EdgeConfigError

__all__ = ["main", "build_parser"]

log = logging.getLogger("serve")

_EPILOG = """\
configuration (environment variables, shared with the rest of the platform):
  DP_STORAGE_URL          object store: file:///path or s3://bucket/prefix?endpoint_url=...
                          (default: file://$DP_STATE_DIR/objects)
  DP_S3_ACCESS_KEY_ID, DP_S3_SECRET_ACCESS_KEY
                          S3/R2 credentials (default: boto3's usual chain)
  DP_REDIS_URL            Redis holding the alias and domain index; empty:
                          both come from the object store only
  DP_REDIS_PREFIX         Redis key prefix (default dp:)
  DP_BASE_DOMAIN          sites are <label>.DP_BASE_DOMAIN (default localhost)
  DP_EDGE_ALIAS_TTL_SECONDS       how long an alias answer is reused (default 1)
  DP_EDGE_NEGATIVE_TTL_SECONDS    how long "no such site" is reused (default 1)
  DP_EDGE_MANIFEST_CACHE_BYTES    memory for parsed manifests, estimated
                                  (default 33554432)
  DP_EDGE_MANIFEST_CACHE_ENTRIES  optional cap on cached manifests (default: none)
  DP_EDGE_BODY_CACHE_BYTES        memory for small bodies (default 67108864)
  DP_EDGE_BODY_CACHE_ITEM_BYTES   larger bodies are streamed (default 262144)
  DP_EDGE_TRUSTED_PROXIES         comma-separated IPs/CIDRs whose X-Forwarded-Host
                                  names the site (the last value of a list);
                                  default empty: X-Forwarded-Host is ignored
  DP_EDGE_SKEW_GRACE_SECONDS      how long fingerprinted assets of an alias's
                                  earlier deployments stay reachable on it
                                  (default 43200 = 12 hours; 0 turns it off)

Resident memory stays under the two cache budgets (manifests + bodies) plus
about 150 MB, however many deployments exist.

example:
  curl -H 'Host: <deployment-id>.localhost' http://127.0.0.1:8080/
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m serve",
        description=(
            "Serve published deployments by Host header: <id>.<base domain> is one "
            "deployment, <project>.<base domain> and <branch>--<project>.<base domain> "
            "follow their aliases, and a mapped custom domain follows its project's "
            "production alias. Unknown hosts get a 404 page."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=8080, help="port to listen on; 0 picks a free one"
    )
    parser.add_argument(
        "--access-log", action="store_true", help="log one line per request to stderr"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        config = EdgeConfig.from_settings(Settings.from_env())
    except (EdgeConfigError, ValueError) as exc:
        print(f"python -m serve: bad configuration: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(config, args.host, args.port, args.access_log))
    except EdgeConfigError as exc:
        print(f"python -m serve: bad configuration: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"python -m serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(config: EdgeConfig, host: str, port: int, access_log: bool) -> None:
    runner = web.AppRunner(
        create_app(config), access_log=logging.getLogger("serve.access") if access_log else None
    )
    await runner.setup()  # opens the store and Redis; bad configuration raises here
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        log.info(
            "edge-origin listening on http://%s:%d serving %s",
            bound_host,
            bound_port,
            config.describe(),
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    sys.exit(main())
