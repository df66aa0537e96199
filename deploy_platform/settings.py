"""Platform settings, read from `DP_*` environment variables in one place.

Every process (`up`, the control API, the edge-origin, the Dagster code location)
reads the same variables; `deploy-platform up` fills in the embedded defaults
and hands them to its children. The configuration table in the README lists them.

With the naming configuration set (DP_CUSTOMER, DP_PROJECT, DP_ENVIRONMENT: all
three or none; `deploy_platform.contracts.resource_names`), the Redis prefix defaults to
its name (`acme-pages-prod-state:`) instead of `dp:`, and an `s3://` storage URL
must use its bucket or its prefix, so one environment never writes into another's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from deploy_platform.contracts import resource_names
from deploy_platform.contracts.resource_names import NamingConfig
from deploy_platform.github.status_api import GitHubConfig

__all__ = ["Settings", "default_state_dir", "public_url"]


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "deploy-platform"


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in value.split(",") if part.strip())


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name} must be a whole number of seconds from 1, not {text[:40]!r}")
    return int(text)


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    redis_url: str
    redis_prefix: str = "dp:"
    storage_url: str = ""
    base_domain: str = "localhost"
    public_scheme: str = "http"
    public_port: int | None = 8080
    api_url: str = "http://127.0.0.1:8000"
    api_token: str = ""
    git_allow_hosts: tuple[str, ...] = field(default_factory=tuple)
    max_repo_bytes: int = 512 * 1024 * 1024
    max_upload_bytes: int = 256 * 1024 * 1024
    production_branch: str = "main"
    tool_cache_dir: Path | None = None
    naming: NamingConfig | None = None
    # GitHub commit statuses (deploy_platform.github.statuses); no token = none.
    github_api_url: str = ""
    github_token: str = field(default="", repr=False)
    github_status_context: str = ""
    # How long a GitHub webhook delivery id is remembered (github/webhooks/deliveries.py).
    webhook_delivery_ttl_seconds: int = 7 * 24 * 3600
    # The Dagster instance the history is read from (DAGSTER_HOME); None: <state>/dagster,
    # where `deploy-platform up` keeps it.
    dagster_home: Path | None = None
    # The edge-origin the asset checks ask for a deployment's index.html (DP_EDGE_ORIGIN_URL).
    edge_origin_url: str = ""

    @property
    def dagster_home_dir(self) -> Path:
        return self.dagster_home or self.state_dir / "dagster"

    @property
    def toolchains(self) -> Path:
        """Downloaded Node versions and package managers, kept per version."""
        return self.tool_cache_dir or self.state_dir / "toolchains"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        state_dir = Path(env.get("DP_STATE_DIR") or default_state_dir())
        port = env.get("DP_PUBLIC_PORT", "8080")
        naming = NamingConfig.from_env(env)
        redis_prefix = env.get("DP_REDIS_PREFIX")
        if redis_prefix is None:  # set but empty means no prefix
            redis_prefix = resource_names.redis_prefix(naming) if naming else "dp:"
        storage_url = env.get("DP_STORAGE_URL") or (state_dir / "objects").as_uri()
        if naming is not None:
            resource_names.check_storage_url(naming, storage_url)
        return cls(
            state_dir=state_dir,
            redis_url=env.get("DP_REDIS_URL", ""),
            redis_prefix=redis_prefix,
            storage_url=storage_url,
            base_domain=env.get("DP_BASE_DOMAIN", "localhost").lower().rstrip("."),
            public_scheme=env.get("DP_PUBLIC_SCHEME", "http"),
            public_port=int(port) if port else None,
            api_url=env.get("DP_API_URL", "http://127.0.0.1:8000"),
            api_token=env.get("DP_API_TOKEN", ""),
            git_allow_hosts=_split(env.get("DP_GIT_ALLOW_HOSTS", "")),
            max_repo_bytes=int(env.get("DP_MAX_REPO_BYTES", str(512 * 1024 * 1024))),
            max_upload_bytes=int(env.get("DP_MAX_UPLOAD_BYTES", str(256 * 1024 * 1024))),
            production_branch=env.get("DP_PRODUCTION_BRANCH", "main"),
            tool_cache_dir=Path(env["DP_TOOL_CACHE_DIR"]) if env.get("DP_TOOL_CACHE_DIR") else None,
            naming=naming,
            github_api_url=env.get("DP_GITHUB_API_URL", ""),
            github_token=env.get("DP_GITHUB_TOKEN", ""),
            github_status_context=env.get("DP_GITHUB_STATUS_CONTEXT", ""),
            webhook_delivery_ttl_seconds=_positive_int(
                env, "DP_WEBHOOK_DELIVERY_TTL_SECONDS", 7 * 24 * 3600
            ),
            dagster_home=Path(env["DAGSTER_HOME"]) if env.get("DAGSTER_HOME") else None,
            edge_origin_url=env.get("DP_EDGE_ORIGIN_URL", "").strip().rstrip("/"),
        )

    def github_config(self) -> GitHubConfig | None:
        """Commit status settings, None without a token; raises GitHubConfigError if bad."""
        return GitHubConfig.from_values(
            self.github_api_url, self.github_token, self.github_status_context
        )

    def public_url(self, label: str) -> str:
        return public_url(label, self.base_domain, self.public_scheme, self.public_port)


def public_url(label: str, base_domain: str, scheme: str = "http", port: int | None = None) -> str:
    default_port = {"http": 80, "https": 443}.get(scheme)
    suffix = "" if port in (None, default_port) else f":{port}"
    return f"{scheme}://{label}.{base_domain}{suffix}/"
