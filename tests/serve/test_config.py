"""EdgeConfig from the environment: defaults, the edge's own knobs, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from serve.config import EdgeConfig, EdgeConfigError, redacted_url


def test_from_env_takes_the_shared_values_and_s3_credentials(tmp_path: Path) -> None:
    env = {
        "DP_STATE_DIR": str(tmp_path),
        "DP_REDIS_URL": "redis://:hunter2@127.0.0.1:6390/0",
        "DP_REDIS_PREFIX": "stage:",
        "DP_BASE_DOMAIN": "Pages.Example.COM.",
        "DP_S3_ACCESS_KEY_ID": "AKID",
        "DP_S3_SECRET_ACCESS_KEY": "s3cr3t",
        "DP_EDGE_ALIAS_TTL_SECONDS": "2.5",
        "DP_EDGE_BODY_CACHE_BYTES": "1024",
    }
    config = EdgeConfig.from_env(env)
    assert config.storage_url == (tmp_path / "objects").as_uri()
    assert config.base_domain == "pages.example.com"
    assert (config.redis_prefix, config.alias_ttl_seconds) == ("stage:", 2.5)
    assert config.body_cache_bytes == 1024
    assert (config.storage_access_key_id, config.storage_secret_access_key) == ("AKID", "s3cr3t")
    # Secrets stay out of logs.
    assert "s3cr3t" not in repr(config) and "hunter2" not in config.describe()


def test_defaults_without_any_edge_setting(tmp_path: Path) -> None:
    env = {"DP_STATE_DIR": str(tmp_path)}
    config = EdgeConfig.from_env(env)
    assert (config.alias_ttl_seconds, config.redis_url) == (1.0, "")
    assert config.storage_access_key_id is None
    assert config.body_cache_item_bytes == 256 * 1024
    assert config.manifest_cache_entries is None  # only the byte budget bounds manifests
    assert config.cache_bytes == (
        config.manifest_cache_bytes + config.body_cache_bytes + config.answer_cache_bytes
    )


def test_the_configured_cache_size_is_every_byte_budget(tmp_path: Path) -> None:
    env = {
        "DP_STATE_DIR": str(tmp_path),
        "DP_EDGE_MANIFEST_CACHE_BYTES": "8388608",
        "DP_EDGE_BODY_CACHE_BYTES": "16777216",
        "DP_EDGE_ANSWER_CACHE_BYTES": "4194304",
        "DP_EDGE_MANIFEST_CACHE_ENTRIES": "50",  # the older knob still caps the count
    }
    config = EdgeConfig.from_env(env)
    assert (config.manifest_cache_bytes, config.manifest_cache_entries) == (8 * 2**20, 50)
    assert config.cache_bytes == 28 * 2**20
    assert "caches 28 MiB" in config.describe()


@pytest.mark.parametrize(
    "changes",
    [
        {"base_domain": "bad_domain"},
        {"base_domain": ""},
        {"storage_url": ""},
        {"alias_ttl_seconds": -1},
        {"body_cache_bytes": -5},
        {"manifest_cache_bytes": -1},
        {"manifest_cache_entries": -1},
        {"redis_timeout_seconds": 0},
        {"chunk_size": 0},
    ],
)
def test_bad_values_are_refused(changes: dict[str, object]) -> None:
    values: dict[str, object] = {"storage_url": "file:///tmp/x", **changes}
    with pytest.raises(EdgeConfigError):
        EdgeConfig(**values)  # type: ignore[arg-type]


def test_redacted_url_hides_only_the_password() -> None:
    assert redacted_url("redis://user:pw@host:1/0") == "redis://user:***@host:1/0"
    assert redacted_url("redis://:pw@host:1/0") == "redis://:***@host:1/0"
    assert redacted_url("redis://host:1/0") == "redis://host:1/0"


def test_the_disk_cache_lives_under_the_state_dir_unless_placed_or_turned_off(
    tmp_path: Path,
) -> None:
    env = {"DP_STATE_DIR": str(tmp_path)}
    config = EdgeConfig.from_env(env)
    assert (config.disk_cache_dir, config.disk_cache_bytes) == (
        str(tmp_path / "edge-cache"),
        1024 * 2**20,
    )
    assert config.disk_cache_on and "edge-cache (1024 MiB)" in config.describe()
    assert config.header_timeout_seconds == 15.0

    placed = {**env, "DP_EDGE_DISK_CACHE_DIR": "/var/cache/edge"}
    assert EdgeConfig.from_env(placed).disk_cache_dir == ("/var/cache/edge")
    off = {**env, "DP_EDGE_DISK_CACHE_BYTES": "0"}
    assert not EdgeConfig.from_env(off).disk_cache_on
    # No state directory named (a bare `python -m serve`): nothing written under a default.
    bare: dict[str, str] = {}
    assert not EdgeConfig.from_env(bare).disk_cache_on


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_a_bad_header_timeout_is_refused_naming_it(tmp_path: Path, value: str) -> None:
    env = {"DP_STATE_DIR": str(tmp_path), "DP_EDGE_HEADER_TIMEOUT_SECONDS": value}
    with pytest.raises(EdgeConfigError, match="DP_EDGE_HEADER_TIMEOUT_SECONDS"):
        EdgeConfig.from_env(env)
