"""Where the cached directories live: package managers' stores and framework caches."""

from __future__ import annotations

from pathlib import Path

from deploy_platform.build.cache.keys import PACKAGE_MANAGERS

__all__ = ["FRAMEWORK_CACHE_DIRS", "package_manager_cache_dirs", "package_manager_cache_env"]

# Framework caches inside the app directory, restored AFTER install (`npm ci` removes
# node_modules first). `.svelte-kit` is left out: `svelte-kit sync` regenerates it on
# every build, so caching it saves nothing.
FRAMEWORK_CACHE_DIRS = (
    "node_modules/.cache",  # webpack/babel/terser (CRA, Docusaurus, Nuxt, Gatsby plugins)
    ".next/cache",  # Next.js images and webpack/turbopack caches
    "node_modules/.astro",  # Astro 3+ (assets, content layer)
    ".astro",  # Astro 2 and earlier
)


def _store_dirs(package_manager: str, home: Path) -> dict[str, Path]:
    if package_manager == "npm":
        return {"npm-cache": home / ".npm"}
    if package_manager == "pnpm":
        return {"pnpm-store": home / ".pnpm-store"}
    if package_manager == "yarn":
        return {"yarn-cache": home / ".cache" / "yarn"}
    if package_manager == "bun":
        return {"bun-cache": home / ".bun" / "install" / "cache"}
    raise ValueError(
        f"unknown package manager {package_manager!r}; one of {', '.join(PACKAGE_MANAGERS)}"
    )


def package_manager_cache_dirs(package_manager: str, home: Path, app_dir: Path) -> dict[str, Path]:
    """Cache name -> directory: the package manager's store under `home` (when run with
    `package_manager_cache_env(package_manager, home)`) and the framework caches in
    `app_dir` (names from `FRAMEWORK_CACHE_DIRS`; restore those after install)."""
    dirs = _store_dirs(package_manager, Path(home))
    for name in FRAMEWORK_CACHE_DIRS:
        dirs[name] = Path(app_dir) / name
    return dirs


def package_manager_cache_env(package_manager: str, home: Path) -> dict[str, str]:
    """Environment variables that put the package manager's store where
    `package_manager_cache_dirs` says (pass them with HOME=home)."""
    store = _store_dirs(package_manager, Path(home))
    if package_manager == "npm":
        return {"npm_config_cache": str(store["npm-cache"])}
    if package_manager == "pnpm":
        # pnpm reads its settings from npm_config_* variables too.
        return {"npm_config_store_dir": str(store["pnpm-store"])}
    if package_manager == "yarn":
        # Classic reads YARN_CACHE_FOLDER. Berry (2+) only honours it with its global
        # cache off -- Yarn 4 turns that on by default and then ignores the folder --
        # and classic ignores the extra setting, so one set serves both.
        return {
            "YARN_CACHE_FOLDER": str(store["yarn-cache"]),
            "YARN_ENABLE_GLOBAL_CACHE": "false",
        }
    return {"BUN_INSTALL_CACHE_DIR": str(store["bun-cache"])}
