"""An app built for a sub-path (Create React App's `homepage`) is mounted at that path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploy_platform.contracts.ids import new_deployment_id
from deploy_platform.contracts.routing import RoutingError
from deploy_platform.publish.deployment import publish_directory
from deploy_platform.storage.local import LocalObjectStore
from tests.serve.conftest import EdgeFactory
from tests.serve.test_rules import fetch


def built_app(root: Path) -> Path:
    """What `react-scripts build` writes for `"homepage": "https://example.org/shop"`."""
    (root / "static" / "js").mkdir(parents=True)
    (root / "index.html").write_text('<script src="/shop/static/js/main.js"></script>')
    (root / "static" / "js" / "main.js").write_text("console.log('shop')")
    return root


async def test_the_app_is_served_under_its_base_path_and_the_root_leads_there(
    tmp_path: Path, store: LocalObjectStore, start_edge: EdgeFactory
) -> None:
    deployment = new_deployment_id()
    publish_directory(
        store, deployment, built_app(tmp_path / "build"), routing_config={"base_path": "/shop"}
    )
    edge = await start_edge()

    status, _, headers = await fetch(edge, deployment, "/")
    assert (status, headers["Location"]) == (302, "/shop/")
    status, body, _ = await fetch(edge, deployment, "/shop/")
    assert status == 200 and b"/shop/static/js/main.js" in body
    # The asset the page asks for is where the build said it would be.
    status, body, _ = await fetch(edge, deployment, "/shop/static/js/main.js")
    assert status == 200 and b"shop" in body


@pytest.mark.parametrize("bad", ["shop", "/shop/../etc", "/sh op", 7])
def test_a_bad_base_path_is_refused_before_anything_is_stored(
    tmp_path: Path, store: LocalObjectStore, bad: Any
) -> None:
    with pytest.raises(RoutingError, match="base path"):
        publish_directory(
            store, new_deployment_id(), built_app(tmp_path / "b"), routing_config={"base_path": bad}
        )
    assert not list(store.list("deployments/"))
