"""The control API (aiohttp): enqueue deployments, report their status, map custom domains.

  POST /api/deployments        JSON {"repo_url", "ref", "project"}, or a tar.gz body
                               with ?project=&ref=  -> 202 + the queued record
  GET  /api/deployments/{id}   the deployment record
  POST /api/domains            JSON {"hostname", "project"}: map a custom domain
  GET  /api/domains            the mapped custom domains (?project= filters)
  DELETE /api/domains/{host}   unmap a custom domain (deployments stay)
  GET  /api/health             Redis and object store reachability (no token)

Run it with `python -m deploy_platform.api --host 127.0.0.1 --port 8000`.
"""

from deploy_platform.api.app import StartupError, create_app
from deploy_platform.api.errors import ApiError
from deploy_platform.api.keys import EXECUTOR, SETTINGS, STATE, STORE

__all__ = ["ApiError", "StartupError", "create_app", "SETTINGS", "STATE", "STORE", "EXECUTOR"]
