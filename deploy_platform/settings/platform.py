"""The platform's shared settings, read from the `DP_*` variables `registry` declares.

`up`, the control API and `gc` build a `Settings`; `deploy-platform up` fills in the
embedded defaults and hands them to its children (`to_env`). The edge-origin
reads its few through `serve/config.py` instead, and the Dagster code location
through `dg.EnvVar` (`definitions.ENV_VARS`). docs/reference/configuration.md
lists them all.

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
from urllib.parse import urlencode

from deploy_platform.contracts.resource_names import NamingConfig, placement
from deploy_platform.contracts.tags import PROJECT_TAG
from deploy_platform.github.status_api import GitHubConfig
from deploy_platform.settings.registry import default, default_state_dir

__all__ = ["Settings", "public_url"]


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in value.split(",") if part.strip())


def _positive_int(env: Mapping[str, str], name: str) -> int:
    text = env.get(name, "").strip() or default(name)
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name} must be a whole number of seconds from 1, not {text[:40]!r}")
    return int(text)


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    redis_url: str
    redis_prefix: str = default("DP_REDIS_PREFIX")
    storage_url: str = ""
    base_domain: str = default("DP_BASE_DOMAIN")
    public_scheme: str = default("DP_PUBLIC_SCHEME")
    public_port: int | None = int(default("DP_PUBLIC_PORT"))
    api_url: str = default("DP_API_URL")
    api_token: str = ""
    git_allow_hosts: tuple[str, ...] = field(default_factory=tuple)
    max_repo_bytes: int = int(default("DP_MAX_REPO_BYTES"))
    max_upload_bytes: int = int(default("DP_MAX_UPLOAD_BYTES"))
    production_branch: str = default("DP_PRODUCTION_BRANCH")
    tool_cache_dir: Path | None = None
    naming: NamingConfig | None = None
    # GitHub commit statuses (deploy_platform.github.statuses); no token = none.
    github_api_url: str = ""
    github_token: str = field(default="", repr=False)
    github_status_context: str = ""
    # How long a GitHub webhook delivery id is remembered (github/webhooks/deliveries.py).
    webhook_delivery_ttl_seconds: int = int(default("DP_WEBHOOK_DELIVERY_TTL_SECONDS"))
    # The Dagster instance the history is read from (DAGSTER_HOME); None: <state>/dagster,
    # where `deploy-platform up` keeps it.
    dagster_home: Path | None = None
    # The edge-origin the asset checks ask for a deployment's index.html (DP_EDGE_ORIGIN_URL).
    edge_origin_url: str = ""
    # Where a person's browser finds the Dagster UI: run links are `<this>/runs/<run id>`.
    dagster_ui_url: str = default("DP_DAGSTER_UI_URL")

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
        port = env.get("DP_PUBLIC_PORT", default("DP_PUBLIC_PORT"))
        placed = placement(env, (state_dir / "objects").as_uri(), default("DP_REDIS_PREFIX"))
        return cls(
            state_dir=state_dir,
            redis_url=env.get("DP_REDIS_URL", ""),
            redis_prefix=placed.redis_prefix,
            storage_url=placed.storage_url,
            base_domain=env.get("DP_BASE_DOMAIN", default("DP_BASE_DOMAIN")).lower().rstrip("."),
            public_scheme=env.get("DP_PUBLIC_SCHEME", default("DP_PUBLIC_SCHEME")),
            public_port=int(port) if port else None,
            api_url=env.get("DP_API_URL", default("DP_API_URL")),
            api_token=env.get("DP_API_TOKEN", ""),
            git_allow_hosts=_split(env.get("DP_GIT_ALLOW_HOSTS", "")),
            max_repo_bytes=int(env.get("DP_MAX_REPO_BYTES", default("DP_MAX_REPO_BYTES"))),
            max_upload_bytes=int(env.get("DP_MAX_UPLOAD_BYTES", default("DP_MAX_UPLOAD_BYTES"))),
            production_branch=env.get("DP_PRODUCTION_BRANCH", default("DP_PRODUCTION_BRANCH")),
            tool_cache_dir=Path(env["DP_TOOL_CACHE_DIR"]) if env.get("DP_TOOL_CACHE_DIR") else None,
            naming=placed.naming,
            github_api_url=env.get("DP_GITHUB_API_URL", ""),
            github_token=env.get("DP_GITHUB_TOKEN", ""),
            github_status_context=env.get("DP_GITHUB_STATUS_CONTEXT", ""),
            webhook_delivery_ttl_seconds=_positive_int(env, "DP_WEBHOOK_DELIVERY_TTL_SECONDS"),
            dagster_home=Path(env["DAGSTER_HOME"]) if env.get("DAGSTER_HOME") else None,
            edge_origin_url=env.get("DP_EDGE_ORIGIN_URL", "").strip().rstrip("/"),
            dagster_ui_url=(
                env.get("DP_DAGSTER_UI_URL", "").strip() or default("DP_DAGSTER_UI_URL")
            ).rstrip("/"),
        )

    def to_env(self) -> dict[str, str]:
        """These settings as the variables `up` hands its children, defaults resolved."""
        return {
            "DP_STATE_DIR": str(self.state_dir),
            "DP_REDIS_URL": self.redis_url,
            "DP_REDIS_PREFIX": self.redis_prefix,
            "DP_STORAGE_URL": self.storage_url,
            "DP_BASE_DOMAIN": self.base_domain,
            "DP_PUBLIC_SCHEME": self.public_scheme,
            "DP_PUBLIC_PORT": "" if self.public_port is None else str(self.public_port),
            "DP_API_URL": self.api_url,
            "DP_API_TOKEN": self.api_token,
            "DP_GIT_ALLOW_HOSTS": ",".join(self.git_allow_hosts),
            "DP_MAX_REPO_BYTES": str(self.max_repo_bytes),
            "DP_MAX_UPLOAD_BYTES": str(self.max_upload_bytes),
            "DP_PRODUCTION_BRANCH": self.production_branch,
            "DP_TOOL_CACHE_DIR": str(self.toolchains),
            # The asset checks ask the edge-origin for each new deployment's index.html.
            "DP_EDGE_ORIGIN_URL": self.edge_origin_url,
            "DP_DAGSTER_UI_URL": self.dagster_ui_url,
            # GitHub commit statuses (deploy_platform.github.statuses): empty token = none.
            "DP_GITHUB_API_URL": self.github_api_url,
            "DP_GITHUB_TOKEN": self.github_token,
            "DP_GITHUB_STATUS_CONTEXT": self.github_status_context,
        }

    def github_config(self) -> GitHubConfig | None:
        """Commit status settings, None without a token; raises GitHubConfigError if bad."""
        return GitHubConfig.from_values(
            self.github_api_url, self.github_token, self.github_status_context
        )

    def run_url(self, run_id: str) -> str:
        """The Dagster UI's page of one run (its logs, stdout and stderr tabs)."""
        return f"{self.dagster_ui_url.rstrip('/')}/runs/{run_id}"

    def project_runs_url(self, project: str) -> str:
        """The Dagster UI's run list filtered to one project's runs (by its run tag), in
        the form the UI itself links to: `/runs?q[]=tag:deploy/project=<name>`."""
        query = urlencode({"q[]": f"tag:{PROJECT_TAG}={project}"})
        return f"{self.dagster_ui_url.rstrip('/')}/runs?{query}"

    def public_url(self, label: str) -> str:
        return public_url(label, self.base_domain, self.public_scheme, self.public_port)


def public_url(label: str, base_domain: str, scheme: str = "http", port: int | None = None) -> str:
    default_port = {"http": 80, "https": 443}.get(scheme)
    suffix = "" if port in (None, default_port) else f":{port}"
    return f"{scheme}://{label}.{base_domain}{suffix}/"
