"""`python -m serve`: run the edge-origin on one address until Ctrl-C or SIGTERM.

With `--workers N` (default: one per CPU) N processes share the port
(`serve.workers`); `--workers 1` serves from this process alone (`serve.server`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from serve.config import EdgeConfig, EdgeConfigError
from serve.server import run_event_loop, serve_until_stopped
from serve.workers import default_worker_count, run_workers

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
  DP_REDIS_PREFIX         Redis key prefix (default dp:, or <customer>-<project>-<env>-state:
                          with DP_CUSTOMER, DP_PROJECT, DP_ENVIRONMENT set)
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
  DP_EDGE_ANSWER_CACHE_BYTES      ready-made answers to repeated requests, sent
                                  without the aiohttp pipeline (default 16777216;
                                  0 turns this off; off with --access-log)

Resident memory stays under the cache budgets (manifests + bodies + answers)
plus about 150 MB per process, however many deployments exist.

Each worker process keeps its own caches (the sizes above are per process) and
its own subscription to alias moves. A worker that dies is restarted; SIGTERM or
SIGINT stops them all after the requests in flight.

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
        "--workers",
        type=_positive_int,
        default=default_worker_count(),
        help=(
            "processes sharing the port (SO_REUSEPORT); default: one per CPU "
            f"({default_worker_count()} here); 1 serves from this process alone"
        ),
    )
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="log one line per request to stderr (with the pid of the worker that answered)",
    )
    return parser


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        config = EdgeConfig.from_env()
    except (EdgeConfigError, ValueError) as exc:
        print(f"python -m serve: bad configuration: {exc}", file=sys.stderr)
        return 2
    if args.workers > 1:
        return run_workers(
            config, args.host, args.port, count=args.workers, access_log=args.access_log
        )

    def ready(host: str, port: int) -> None:
        log.info("edge-origin listening on http://%s:%d serving %s", host, port, config.describe())

    try:
        run_event_loop(
            serve_until_stopped(
                config, args.host, args.port, access_log=args.access_log, on_ready=ready
            )
        )
    except EdgeConfigError as exc:
        print(f"python -m serve: bad configuration: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"python -m serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
