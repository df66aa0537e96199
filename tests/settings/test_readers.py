"""Each part reads the variables, and defaults, the registry declares for it."""

from __future__ import annotations

import re
from pathlib import Path

from deploy_platform.api.__main__ import HEADER_TIMEOUT_SECONDS, header_timeout_from_env
from deploy_platform.build import isolation
from deploy_platform.cli.one_machine import _child_env
from deploy_platform.contracts import resource_names
from deploy_platform.contracts.skew import DEFAULT_GRACE_SECONDS
from deploy_platform.orchestration.sensors.infra_retry import InfraRetryPolicy
from deploy_platform.publish.cloudflare_kv import CF_VARIABLES, DEFAULT_API_URL
from deploy_platform.retention.policy import RetentionPolicy
from deploy_platform.settings.instance import INSTANCE_VARIABLES, InstanceSettings
from deploy_platform.settings.platform import Settings
from deploy_platform.settings.registry import (
    VARIABLES,
    Group,
    Reader,
    default,
    passed_by_up,
    read_by,
    variable,
)
from serve.config import EdgeConfig

REPO = Path(__file__).resolve().parents[2]


def _names_in(relative: str) -> set[str]:
    return set(re.findall(r"\bDP_[A-Z0-9_]*[A-Z0-9]\b", (REPO / relative).read_text()))


def test_the_code_location_s_variables_are_the_registry_s() -> None:
    """definitions.ENV_VARS: every dg.EnvVar of the definitions, and the retention
    job's policy; DP_BUILD_ISOLATION and the infra retries are optional, read by the
    build and the sensors, not among them."""
    from deploy_platform.definitions import ENV_VARS

    source = (REPO / "deploy_platform" / "definitions.py").read_text()
    env_vars = set(re.findall(r'dg\.EnvVar(?:\.int)?\("(\w+)"\)', source))
    retention = _names_in("deploy_platform/retention/policy.py")
    assert set(ENV_VARS) == env_vars | retention == set(read_by(Reader.CODE_LOCATION))
    assert "DP_BUILD_ISOLATION" not in ENV_VARS and "DP_INFRA_RETRIES" not in ENV_VARS


def test_up_hands_its_children_exactly_the_variables_it_passes(tmp_path: Path) -> None:
    settings = Settings.from_env({"DP_STATE_DIR": str(tmp_path), "DP_REDIS_URL": "redis://x"})

    env = _child_env(settings, tmp_path / "dagster", {})

    handed = {name for name in env if name.startswith("DP_") or name in VARIABLES}
    assert handed == set(passed_by_up())
    assert set(settings.to_env()) <= set(passed_by_up())
    assert set(read_by(Reader.CODE_LOCATION)) <= set(passed_by_up())


def test_what_up_passes_on_untouched_is_empty_when_unset(tmp_path: Path) -> None:
    settings = Settings.from_env({"DP_STATE_DIR": str(tmp_path), "DP_REDIS_URL": "redis://x"})
    given = {"DP_CF_ACCOUNT_ID": "abc", "DP_BUILD_ISOLATION": "off", "DP_INFRA_RETRIES": "1"}

    env = _child_env(settings, tmp_path / "dagster", given)

    assert env["DP_CF_ACCOUNT_ID"] == "abc" and env["DP_RETAIN_DAYS"] == ""
    # Not passed_by_up: inherited from up's own environment when set, else absent.
    assert env["DP_BUILD_ISOLATION"] == "off" and "DP_WEBHOOK_DELIVERY_TTL_SECONDS" not in env


def test_settings_defaults_are_the_registry_s(tmp_path: Path) -> None:
    settings = Settings.from_env({"DP_STATE_DIR": str(tmp_path)})
    for name, value in settings.to_env().items():
        declared = variable(name)
        if declared.default or not declared.shown_default:  # not computed
            assert value == declared.default, name
    assert settings.webhook_delivery_ttl_seconds == int(default("DP_WEBHOOK_DELIVERY_TTL_SECONDS"))


def test_the_edge_s_defaults_are_the_registry_s(tmp_path: Path) -> None:
    config = EdgeConfig.from_env({})
    assert config.alias_ttl_seconds == float(default("DP_EDGE_ALIAS_TTL_SECONDS"))
    assert config.skew_grace_seconds == DEFAULT_GRACE_SECONDS
    assert config.redis_prefix == default("DP_REDIS_PREFIX")
    assert config.base_domain == default("DP_BASE_DOMAIN")


def test_the_other_readers_defaults_are_the_registry_s() -> None:
    policy = RetentionPolicy.from_env({})
    assert policy.keep_per_branch == int(default("DP_RETAIN_PER_BRANCH"))
    assert policy.keep_days == float(default("DP_RETAIN_DAYS"))
    assert policy.skew_grace_seconds == float(default("DP_EDGE_SKEW_GRACE_SECONDS"))

    instance = InstanceSettings.from_env({})
    assert instance.max_concurrent_builds == int(default("DP_MAX_CONCURRENT_BUILDS"))

    retry = InfraRetryPolicy.from_env({})
    assert retry.max_retries == int(default("DP_INFRA_RETRIES"))
    assert retry.backoff_seconds == float(default("DP_INFRA_RETRY_SECONDS"))

    assert header_timeout_from_env({}) == HEADER_TIMEOUT_SECONDS
    assert HEADER_TIMEOUT_SECONDS == float(default("DP_API_HEADER_TIMEOUT_SECONDS"))

    build = variable(isolation.SETTING)
    assert isolation.mode_from_env({}).value == build.default
    assert build.choices == tuple(mode.value for mode in isolation.Mode)

    assert DEFAULT_API_URL in variable("DP_CF_API_URL").shown_default


def test_the_readers_variable_lists_are_the_registry_s() -> None:
    cloudflare = [name for name, v in VARIABLES.items() if v.group is Group.CLOUDFLARE]
    assert set(CF_VARIABLES) == set(cloudflare)
    instance = {name for name, v in VARIABLES.items() if v.readers == (Reader.UP,)}
    assert set(INSTANCE_VARIABLES) - {"DP_DAGSTER_POSTGRES_URL"} == instance
    naming = [name for name, v in VARIABLES.items() if v.group is Group.NAMES]
    assert naming == list(resource_names.ENV_VARS.values())
    assert variable("DP_ENVIRONMENT").choices == resource_names.ENVIRONMENTS
    sensors = _names_in("deploy_platform/orchestration/sensors/infra_retry.py")
    assert sensors == set(read_by(Reader.SENSORS))
