"""Resource names: every rule of `deploy_platform.contracts.resource_names` with input that
breaks it, and the settings the platform derives from the naming configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy_platform.contracts import resource_names as rn
from deploy_platform.contracts.resource_names import NamingConfig, ResourceNameError
from deploy_platform.settings.platform import Settings

ACME = NamingConfig("acme", "pages", "prod")


def test_the_example_installation_names_every_resource_by_the_convention() -> None:
    assert rn.all_names(ACME) == {
        "worker": "acme-pages-prod-edge",
        "bucket": "acme-pages-prod-assets",
        "object_prefix": "acme-pages-prod-assets/",
        "kv_namespace": "acme-pages-prod-aliases",
        "kv_domains_namespace": "acme-pages-prod-domains",
        "origin_host_label": "acme-pages-prod-origin",
        "redis_prefix": "acme-pages-prod-state:",
    }
    staging = NamingConfig("acme", "pages", "staging")
    assert rn.worker_name(staging) == "acme-pages-staging-edge"
    assert rn.bucket_name(NamingConfig("7eleven", "web2", "dev")) == "7eleven-web2-dev-assets"


@pytest.mark.parametrize("part", ["customer", "project"])
@pytest.mark.parametrize(
    ("value", "rule", "suggestion"),
    [
        ("Acme", "lowercase letters and digits only", "acme"),
        ("ACME", "lowercase letters and digits only", "acme"),
        ("ac--me", "has a hyphen", "acme"),
        ("-acme", "has a hyphen", "acme"),
        ("acme-", "has a hyphen", "acme"),
        ("acme-corp", "has a hyphen", "acmecorp"),
        ("acmé", "non-ASCII", "acme"),
        ("ａｃｍｅ", "non-ASCII", "acme"),  # fullwidth letters
        ("acme corp", "lowercase letters and digits only", "acmecorp"),
        ("acme_corp", "lowercase letters and digits only", "acmecorp"),
        ("acme.io", "lowercase letters and digits only", "acmeio"),
    ],
)
def test_a_bad_part_is_named_with_the_rule_and_a_fix(
    part: str, value: str, rule: str, suggestion: str
) -> None:
    parts = {"customer": "acme", "project": "pages", "environment": "prod", part: value}
    with pytest.raises(ResourceNameError) as caught:
        NamingConfig(**parts)
    message = str(caught.value)
    assert caught.value.part == part
    assert message.startswith(f"{part} {value!r}")
    assert rule in message and f"(try {suggestion!r})" in message


@pytest.mark.parametrize("part", ["customer", "project"])
def test_an_empty_part_is_refused(part: str) -> None:
    parts = {"customer": "acme", "project": "pages", "environment": "prod", part: ""}
    with pytest.raises(ResourceNameError, match=f"^{part} is empty"):
        NamingConfig(**parts)


@pytest.mark.parametrize(
    ("environment", "hint"),
    [
        ("production", "'prod' for production"),
        ("Prod", "lowercase: 'prod'"),
        ("STAGING", "lowercase: 'staging'"),
        ("stage", "('staging')"),
        ("development", "'dev' for development"),
        ("qa", ""),
        ("", ""),
        ("pröd", ""),
    ],
)
def test_an_environment_outside_prod_staging_dev_is_refused(environment: str, hint: str) -> None:
    with pytest.raises(ResourceNameError) as caught:
        NamingConfig("acme", "pages", environment)
    assert caught.value.part == "environment"
    assert "must be one of prod, staging, dev" in str(caught.value)
    assert hint in str(caught.value)


@pytest.mark.parametrize("component", ["Edge", "edge-worker", "", "édge", "edge:"])
def test_a_bad_component_is_refused(component: str) -> None:
    with pytest.raises(ResourceNameError) as caught:
        rn.resource_name(ACME, component, rn.WORKER)
    assert caught.value.part == "component"


def test_a_bucket_name_over_63_characters_names_the_service_and_how_much_to_cut() -> None:
    # 57-character stem: the Worker (`-edge`, 62) fits; the bucket (`-assets`, 64) does not.
    customer, project = "c" * 30, "p" * 21
    with pytest.raises(ResourceNameError) as caught:
        NamingConfig(customer, project, "prod")
    message = str(caught.value)
    assert caught.value.part == "name" and caught.value.over == 1
    assert "S3/R2 bucket name" in message and "is 64 characters, over the limit of 63" in message
    assert "shorten the customer (30 characters) or the project (21) by 1" in message
    # One character less and every name fits, the bucket at exactly 63.
    fits = NamingConfig(customer, project[:-1], "prod")
    assert len(rn.bucket_name(fits)) == 63


def test_the_name_furthest_over_its_limit_is_the_one_reported() -> None:
    with pytest.raises(ResourceNameError) as caught:
        NamingConfig("c" * 40, "p" * 40, "staging")  # every 63-character name is too long
    assert "S3/R2 bucket name" in str(caught.value)  # `-assets`, the longest with 63 allowed
    assert caught.value.over == len("c" * 40 + "-" + "p" * 40 + "-staging-assets") - 63


@pytest.mark.parametrize(
    ("service", "limit"),
    [
        (rn.WORKER, 63),
        (rn.HOST_LABEL, 63),
        (rn.BUCKET, 63),
        (rn.KV_TITLE, 512),
        (rn.REDIS_PREFIX, 200),
        (rn.OBJECT_PREFIX, 1024 - rn.KEY_ROOM),
    ],
)
def test_each_service_has_its_own_length_limit(service: rn.Service, limit: int) -> None:
    stem = len(ACME.stem) + 1 + len(service.suffix)
    at_limit = "x" * (limit - stem)
    assert len(rn.resource_name(ACME, at_limit, service)) == limit
    with pytest.raises(ResourceNameError) as caught:
        rn.resource_name(ACME, at_limit + "x", service)
    assert service.title in str(caught.value)
    assert f"over the limit of {limit}" in str(caught.value)


def test_names_s3_reserves_are_refused_for_buckets() -> None:
    with pytest.raises(ResourceNameError, match="starts with 'sthree-', which S3 reserves"):
        NamingConfig("sthree", "pages", "prod")
    with pytest.raises(ResourceNameError, match="ends with '-s3alias', which S3 reserves"):
        rn.resource_name(ACME, "s3alias", rn.BUCKET)
    # Only buckets: a Worker may be called that.
    assert rn.resource_name(ACME, "s3alias", rn.WORKER) == "acme-pages-prod-s3alias"


def test_the_naming_configuration_comes_from_all_three_variables_or_none() -> None:
    assert NamingConfig.from_env({}) is None
    full = {"DP_CUSTOMER": "acme", "DP_PROJECT": "pages", "DP_ENVIRONMENT": "staging"}
    assert NamingConfig.from_env(full) == NamingConfig("acme", "pages", "staging")
    with pytest.raises(ResourceNameError) as caught:
        NamingConfig.from_env({"DP_CUSTOMER": "acme"})
    assert "DP_CUSTOMER set but DP_PROJECT, DP_ENVIRONMENT not" in str(caught.value)
    with pytest.raises(ResourceNameError) as caught:
        NamingConfig.from_env({**full, "DP_ENVIRONMENT": "production"})
    assert str(caught.value).startswith("DP_ENVIRONMENT: environment 'production'")
    with pytest.raises(ResourceNameError) as caught:
        NamingConfig.from_env({**full, "DP_CUSTOMER": "c" * 60})
    assert str(caught.value).startswith("DP_CUSTOMER, DP_PROJECT: S3/R2 bucket name")


def test_a_storage_url_must_use_the_bucket_or_the_prefix_of_the_configuration() -> None:
    rn.check_storage_url(ACME, "s3://acme-pages-prod-assets?endpoint_url=http://127.0.0.1:9000")
    rn.check_storage_url(ACME, "s3://shared-bucket/acme-pages-prod-assets?region=auto")
    rn.check_storage_url(ACME, "file:///var/lib/deploy-platform/objects")
    for wrong in ("s3://acme-pages-staging-assets", "s3://shared/acme-pages-staging-assets"):
        with pytest.raises(ResourceNameError) as caught:
            rn.check_storage_url(ACME, wrong)
        assert "s3://acme-pages-prod-assets (a bucket of its own)" in str(caught.value)
        assert "/acme-pages-prod-assets (a prefix in a shared bucket)" in str(caught.value)


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"DP_STATE_DIR": str(tmp_path), **values}


NAMING = {"DP_CUSTOMER": "acme", "DP_PROJECT": "pages", "DP_ENVIRONMENT": "prod"}


def test_settings_take_the_redis_prefix_from_the_naming_configuration(tmp_path: Path) -> None:
    assert Settings.from_env(_env(tmp_path)).redis_prefix == "dp:"  # unchanged without one
    named = Settings.from_env(_env(tmp_path, **NAMING))
    assert named.naming == ACME
    assert named.redis_prefix == "acme-pages-prod-state:"
    # An explicit prefix (an existing installation's keys) wins; empty means none.
    assert Settings.from_env(_env(tmp_path, **NAMING, DP_REDIS_PREFIX="dp:")).redis_prefix == "dp:"
    assert Settings.from_env(_env(tmp_path, **NAMING, DP_REDIS_PREFIX="")).redis_prefix == ""


def test_settings_refuse_another_environments_bucket(tmp_path: Path) -> None:
    good = _env(tmp_path, **NAMING, DP_STORAGE_URL="s3://acme-pages-prod-assets")
    assert Settings.from_env(good).storage_url == "s3://acme-pages-prod-assets"
    with pytest.raises(ValueError, match="DP_STORAGE_URL uses s3://acme-pages-staging-assets"):
        Settings.from_env(_env(tmp_path, **NAMING, DP_STORAGE_URL="s3://acme-pages-staging-assets"))
    # Without a naming configuration any bucket is the operator's choice.
    free = _env(tmp_path, DP_STORAGE_URL="s3://anything")
    assert Settings.from_env(free).storage_url == "s3://anything"


def test_the_edge_origin_refuses_to_start_with_a_name_breaking_the_convention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from serve.__main__ import main as serve_main

    for name, value in {**_env(tmp_path), **NAMING, "DP_PROJECT": "Pages"}.items():
        monkeypatch.setenv(name, value)
    assert serve_main(["--port", "0"]) == 2
    assert "DP_PROJECT: project 'Pages' must be lowercase" in capsys.readouterr().err
