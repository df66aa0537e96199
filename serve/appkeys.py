"""Typed application state (`web.AppKey`), shared by the app factory and the handler."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from deploy_platform.storage import ObjectStore
from deploy_platform.storage.redis_state import PlatformState
from serve.answers import AnswerCache
from serve.bodies import BodyReader
from serve.config import EdgeConfig
from serve.invalidation import AliasFollower
from serve.lookup import DeploymentLookup

__all__ = ["CONFIG", "STORE", "STATE", "EXECUTOR", "LOOKUP", "BODIES", "FOLLOWER", "ANSWERS"]

CONFIG = web.AppKey("config", EdgeConfig)
# Set by the clients context in `serve.app` while the app runs:
STORE = web.AppKey("store", ObjectStore)
STATE = web.AppKey[PlatformState | None]("state")
EXECUTOR = web.AppKey("executor", ThreadPoolExecutor)
LOOKUP = web.AppKey("lookup", DeploymentLookup)
BODIES = web.AppKey("bodies", BodyReader)
FOLLOWER = web.AppKey[AliasFollower | None]("follower")
# Set by `create_app` when the answer cache is on (`serve.answers`):
ANSWERS = web.AppKey("answers", AnswerCache)
