"""`python -m deploy_platform.cli`: the `deploy-platform` command."""

from deploy_platform.cli import main

raise SystemExit(main())
