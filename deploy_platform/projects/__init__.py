"""Projects: a repository's deploy settings, stored durably, and its branch rules.

`model` is what a project is and how requests change it, `branches` decides
which pushed branches deploy, `store` keeps projects in the object store (the
source of truth) and indexes them in Redis. Import from here.
"""

from deploy_platform.projects.branches import (
    DEFAULT_EXCLUDE,
    DEFAULT_INCLUDE,
    BranchDecision,
    BranchRules,
    Verdict,
    pattern_matches,
)
from deploy_platform.projects.model import (
    MASK,
    InvalidProjectSettings,
    Project,
    apply_changes,
    branch_allowed,
    branch_decision,
    deployment_build,
    new_project,
    secret_matches,
)
from deploy_platform.projects.store import (
    PROJECTS_PREFIX,
    InvalidProjectObject,
    ProjectExists,
    ProjectNotFound,
    create_project,
    delete_project,
    list_projects,
    project_key,
    projects_for_repository,
    read_project,
    reindex_projects,
    repository_identity,
    rotate_webhook_secret,
    update_project,
)

__all__ = [
    "DEFAULT_EXCLUDE",
    "DEFAULT_INCLUDE",
    "MASK",
    "PROJECTS_PREFIX",
    "BranchDecision",
    "BranchRules",
    "InvalidProjectObject",
    "InvalidProjectSettings",
    "Project",
    "ProjectExists",
    "ProjectNotFound",
    "Verdict",
    "apply_changes",
    "branch_allowed",
    "branch_decision",
    "create_project",
    "delete_project",
    "deployment_build",
    "list_projects",
    "new_project",
    "pattern_matches",
    "project_key",
    "projects_for_repository",
    "read_project",
    "reindex_projects",
    "repository_identity",
    "rotate_webhook_secret",
    "secret_matches",
    "update_project",
]
