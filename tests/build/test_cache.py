"""The build cache on the real local store and the SeaweedFS S3 server."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from deploy_platform.build.cache.keys import CACHE_PREFIX, cache_key, entry_object_key
from deploy_platform.build.cache.locations import (
    FRAMEWORK_CACHE_DIRS,
    package_manager_cache_dirs,
    package_manager_cache_env,
)
from deploy_platform.build.cache.restore import restore
from deploy_platform.build.cache.save import save
from deploy_platform.storage import ObjectStore
from deploy_platform.storage.local import LocalObjectStore
from tests.support.environment import TOOLCHAIN_CACHE

LOCK = b'{"name": "app", "lockfileVersion": 3, "packages": {}}\n'


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, local_store_root: Path) -> ObjectStore:
    """The same tests on a local directory and on a real S3 server (a fresh bucket)."""
    if request.param == "local":
        return LocalObjectStore(local_store_root)
    s3: ObjectStore = request.getfixturevalue("s3_store")
    return s3


def make_app(root: Path, lock: bytes = LOCK, lockfile: str = "package-lock.json") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "package.json").write_text('{"name": "app"}\n')
    (root / lockfile).write_bytes(lock)
    return root


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def read_tree(root: Path) -> dict[str, bytes | str]:
    """Every file's bytes and every symlink's target, by relative path."""
    out: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = path.read_bytes()
    return out


def npm_key(
    app: Path, project: str = "shop", version: str = "10.8.2", node: str = "20.18.1"
) -> str:
    return cache_key(project, app, "npm", version, node)


def objects(store: ObjectStore, project: str = "shop") -> list[str]:
    return [info.key for info in store.list(f"{CACHE_PREFIX}/{project}/")]


STORE_FILES = {
    "_cacache/index-v5/ab/cd": b"index line\n",
    "_cacache/content-v2/sha512/00/11": bytes(range(256)) * 40,
}


# -- keys ---------------------------------------------------------------------------


def test_key_follows_the_lockfile_the_manager_version_and_the_node_major(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    key = npm_key(app)
    assert key.startswith("shop/npm10.8.2-node20-")
    assert npm_key(app) == key, "same inputs, same key"
    assert npm_key(app, node="v20.11.0") == key, "a Node patch release keeps the store"

    assert npm_key(app, node="22.1.0") != key
    assert npm_key(app, version="11.0.0") != key
    assert npm_key(app, project="blog") != key
    assert cache_key("shop", app, "pnpm", "10.8.2", "20") != key

    (app / "package-lock.json").write_bytes(LOCK.replace(b"app", b"app2"))
    assert npm_key(app) != key

    # package.json alone does not change the key while a lockfile pins the packages.
    relocked = npm_key(app)
    (app / "package.json").write_text('{"name": "app", "scripts": {"build": "vite"}}\n')
    assert npm_key(app) == relocked


def test_without_a_lockfile_the_key_follows_package_json(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text('{"dependencies": {"marked": "^15.0.0"}}\n')
    key = npm_key(app)
    (app / "package.json").write_text('{"dependencies": {"marked": "^16.0.0"}}\n')
    assert npm_key(app) != key


@pytest.mark.parametrize("lockfile", ["pnpm-lock.yaml", "yarn.lock", "bun.lockb", "bun.lock"])
def test_every_lockfile_kind_counts(tmp_path: Path, lockfile: str) -> None:
    app = make_app(tmp_path / "app", b"v1", lockfile)
    key = cache_key("shop", app, "npm", None, "20")
    (app / lockfile).write_bytes(b"v2")
    assert cache_key("shop", app, "npm", None, "20") != key


def test_bad_key_inputs_are_refused(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    with pytest.raises(ValueError, match="unknown package manager 'pip'"):
        cache_key("shop", app, "pip", None, "20")
    with pytest.raises(ValueError, match="project name"):
        cache_key("Shop!", app, "npm", None, "20")


# -- restore and save ---------------------------------------------------------------


def test_an_exact_hit_restores_the_same_bytes(store: ObjectStore, tmp_path: Path) -> None:
    key = npm_key(make_app(tmp_path / "app"))
    npm_store = write_tree(tmp_path / "home1/.npm", STORE_FILES)
    (npm_store / "_cacache/link").symlink_to("index-v5/ab/cd")
    (npm_store / "_logs").mkdir()
    (npm_store / "_logs/debug.log").write_text("npm ci --token secret\n")
    next_cache = write_tree(tmp_path / "app/.next/cache", {"images/a.webp": b"RIFF" * 100})

    saved = save(store, key, {"npm-cache": npm_store, ".next/cache": next_cache})

    assert saved.saved, saved.reason
    assert sorted(saved.names) == [".next/cache", "npm-cache"]
    assert saved.bytes > 0
    targets = {"npm-cache": tmp_path / "home2/.npm", ".next/cache": tmp_path / "app2/.next/cache"}
    restored = restore(store, key, targets)
    assert (restored.hit, restored.exact, restored.source_key) == (True, True, key)
    assert sorted(restored.restored) == [".next/cache", "npm-cache"]
    assert restored.bytes == saved.bytes
    expected = read_tree(npm_store)
    del expected["_logs/debug.log"]  # npm's debug logs are never cached
    assert read_tree(targets["npm-cache"]) == expected
    assert read_tree(targets[".next/cache"]) == read_tree(next_cache)


def test_only_the_requested_names_are_restored(store: ObjectStore, tmp_path: Path) -> None:
    key = npm_key(make_app(tmp_path / "app"))
    save(
        store,
        key,
        {
            "npm-cache": write_tree(tmp_path / "a/.npm", STORE_FILES),
            "node_modules/.cache": write_tree(tmp_path / "a/nm", {"babel/x.json": b"{}"}),
        },
    )
    # Before install: only the package store (npm ci deletes node_modules anyway).
    first = restore(store, key, {"npm-cache": tmp_path / "b/.npm"})
    assert first.restored == ("npm-cache",)
    assert not (tmp_path / "b/nm").exists()
    second = restore(store, key, {"node_modules/.cache": tmp_path / "b/nm"})
    assert second.restored == ("node_modules/.cache",)
    assert (tmp_path / "b/nm/babel/x.json").read_bytes() == b"{}"


def test_a_miss_says_so_and_touches_nothing(store: ObjectStore, tmp_path: Path) -> None:
    key = npm_key(make_app(tmp_path / "app"))
    result = restore(store, key, {"npm-cache": tmp_path / "home/.npm"})
    assert (result.hit, result.restored) == (False, ())
    assert result.reason == "no cache entry"
    assert not (tmp_path / "home/.npm").exists()


def test_a_changed_lockfile_restores_the_newest_entry_of_the_same_manager(
    store: ObjectStore, tmp_path: Path
) -> None:
    app = make_app(tmp_path / "app", b"lock 1")
    old = npm_key(app)
    save(store, old, {"npm-cache": write_tree(tmp_path / "1", {"a": b"old"})})
    (app / "package-lock.json").write_bytes(b"lock 2")
    newest = npm_key(app)
    save(store, newest, {"npm-cache": write_tree(tmp_path / "2", {"a": b"new"})})
    # Newer still, but for another npm version or another project: never a fallback.
    save(
        store,
        npm_key(app, version="11.0.0"),
        {"npm-cache": write_tree(tmp_path / "3", {"a": b"npm 11"})},
    )
    save(
        store,
        npm_key(app, project="blog"),
        {"npm-cache": write_tree(tmp_path / "4", {"a": b"blog"})},
    )

    (app / "package-lock.json").write_bytes(b"lock 3")
    wanted = npm_key(app)
    result = restore(store, wanted, {"npm-cache": tmp_path / "home/.npm"})

    assert (result.hit, result.exact, result.source_key) == (True, False, newest)
    assert (tmp_path / "home/.npm/a").read_bytes() == b"new"
    off = restore(store, wanted, {"npm-cache": tmp_path / "home2/.npm"}, fallback=False)
    assert not off.hit


def test_a_clean_build_skips_restore_but_still_saves(store: ObjectStore, tmp_path: Path) -> None:
    """Like Vercel's "redeploy without cache": nothing restored, the fresh cache saved."""
    key = npm_key(make_app(tmp_path / "app"))
    save(store, key, {"npm-cache": write_tree(tmp_path / "1", {"a": b"stale"})})

    skipped = restore(store, key, {"npm-cache": tmp_path / "home/.npm"}, clean=True)
    assert not skipped.hit
    assert skipped.reason == "clean build: cache not restored"
    assert not (tmp_path / "home/.npm").exists()

    fresh = save(
        store,
        key,
        {"npm-cache": write_tree(tmp_path / "home/.npm", {"a": b"fresh"})},
        restored=skipped,
    )
    assert fresh.saved
    restore(store, key, {"npm-cache": tmp_path / "next/.npm"})
    assert (tmp_path / "next/.npm/a").read_bytes() == b"fresh"


def test_an_unchanged_cache_after_an_exact_hit_is_not_saved_again(
    store: ObjectStore, tmp_path: Path
) -> None:
    key = npm_key(make_app(tmp_path / "app"))
    save(store, key, {"npm-cache": write_tree(tmp_path / "1", STORE_FILES)})
    target = tmp_path / "home/.npm"
    hit = restore(store, key, {"npm-cache": target})
    assert hit.exact
    before = objects(store)

    again = save(store, key, {"npm-cache": target}, restored=hit)
    assert (again.saved, again.reason) == (False, "unchanged since the cache was restored")
    assert objects(store) == before

    # Rewritten in place at the same size: still a change.
    (target / "_cacache/index-v5/ab/cd").write_bytes(b"INDEX LINE\n")
    changed = save(store, key, {"npm-cache": target}, restored=hit)
    assert changed.saved
    assert len(objects(store)) == 2, "the replaced save's part is pruned: one part, one sidecar"


def test_nothing_to_save_is_not_an_error(store: ObjectStore, tmp_path: Path) -> None:
    key = npm_key(make_app(tmp_path / "app"))
    (tmp_path / "empty").mkdir()
    result = save(store, key, {"npm-cache": tmp_path / "empty", ".next/cache": tmp_path / "none"})
    assert (result.saved, result.reason) == (False, "nothing to cache (the directories are empty)")
    assert objects(store) == []


def test_the_project_keeps_only_its_newest_entries(store: ObjectStore, tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    keys = []
    for n in range(4):
        (app / "package-lock.json").write_bytes(f"lock {n}".encode())
        keys.append(npm_key(app))
        result = save(
            store, keys[-1], {"npm-cache": write_tree(tmp_path / f"s{n}", STORE_FILES)}, keep=2
        )
        assert result.saved, result.reason
    assert result.deleted == (keys[1],)

    sidecars = sorted(k for k in objects(store) if k.endswith(".json"))
    assert sidecars == sorted(entry_object_key(k) for k in keys[2:])
    assert not any(keys[0].split("/")[1] in k or keys[1].split("/")[1] in k for k in objects(store))
    assert not restore(store, keys[0], {"npm-cache": tmp_path / "x"}, fallback=False).hit


def test_the_byte_cap_keeps_at_least_the_newest_entry(store: ObjectStore, tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    big = {"blob": os.urandom(64 * 1024)}
    first = npm_key(app)
    save(store, first, {"npm-cache": write_tree(tmp_path / "1", big)})
    (app / "package-lock.json").write_bytes(b"other")
    second = npm_key(app)

    result = save(
        store, second, {"npm-cache": write_tree(tmp_path / "2", big)}, max_project_bytes=1000
    )

    assert result.saved
    assert result.deleted == (first,)
    assert restore(store, second, {"npm-cache": tmp_path / "x"}).exact


# -- hostile or broken entries ------------------------------------------------------


def _part_key(store: ObjectStore, key: str) -> str:
    sidecar = json.loads(store.get_bytes(entry_object_key(key)))
    return str(sidecar["parts"]["npm-cache"]["object"])


def _tar_gz(build: object) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        build(tar)  # type: ignore[operator]
    return buffer.getvalue()


def test_a_corrupt_entry_is_refused_dropped_and_saved_anew(
    store: ObjectStore, tmp_path: Path
) -> None:
    key = npm_key(make_app(tmp_path / "app"))
    source = write_tree(tmp_path / "1", STORE_FILES)
    save(store, key, {"npm-cache": source})
    store.put_bytes(_part_key(store, key), b"\x1f\x8b not really gzip")

    target = tmp_path / "home/.npm"
    result = restore(store, key, {"npm-cache": target})

    assert not result.hit
    assert result.reason is not None and "damaged" in result.reason
    assert not target.exists() or not any(target.iterdir())
    # The build goes on and its save replaces the broken entry, even with the same tree.
    again = save(store, key, {"npm-cache": source}, restored=result)
    assert again.saved, again.reason
    assert restore(store, key, {"npm-cache": tmp_path / "home2/.npm"}).exact


def test_a_symlink_out_of_the_cache_is_refused(store: ObjectStore, tmp_path: Path) -> None:
    key = npm_key(make_app(tmp_path / "app"))
    save(store, key, {"npm-cache": write_tree(tmp_path / "1", STORE_FILES)})

    def hostile(tar: tarfile.TarFile) -> None:
        data = b"harmless first file"
        info = tarfile.TarInfo("_cacache/ok")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("_cacache/passwd")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)

    store.put_bytes(_part_key(store, key), _tar_gz(hostile))
    target = tmp_path / "home/.npm"
    result = restore(store, key, {"npm-cache": target})

    assert not result.hit
    assert result.reason is not None and "passwd" in result.reason
    assert not (target / "_cacache/passwd").is_symlink()
    assert not (target / "_cacache/ok").exists(), "half of a refused entry is not kept"


def test_a_broken_exact_entry_falls_back_to_a_good_one(store: ObjectStore, tmp_path: Path) -> None:
    app = make_app(tmp_path / "app", b"lock 1")
    good = npm_key(app)
    save(store, good, {"npm-cache": write_tree(tmp_path / "1", {"a": b"good"})})
    (app / "package-lock.json").write_bytes(b"lock 2")
    broken = npm_key(app)
    save(store, broken, {"npm-cache": write_tree(tmp_path / "2", {"a": b"broken"})})
    store.put_bytes(_part_key(store, broken), b"garbage")

    result = restore(store, broken, {"npm-cache": tmp_path / "home/.npm"})

    assert (result.hit, result.exact, result.source_key) == (True, False, good)
    assert (tmp_path / "home/.npm/a").read_bytes() == b"good"
    assert result.reason is not None and "refused" in result.reason


@pytest.mark.parametrize(
    "sidecar",
    [
        b"{not json",
        b'{"version": 1, "created": 1, "parts": {"npm-cache": {"object": '
        b'"sources/abc.tar.gz", "bytes": 1, "fingerprint": "x"}}}',
    ],
    ids=["garbage", "points-outside-its-entry"],
)
def test_a_bad_sidecar_is_ignored(store: ObjectStore, tmp_path: Path, sidecar: bytes) -> None:
    key = npm_key(make_app(tmp_path / "app"))
    store.put_bytes("sources/abc.tar.gz", _tar_gz(lambda tar: None))
    store.put_bytes(entry_object_key(key), sidecar)

    result = restore(store, key, {"npm-cache": tmp_path / "home/.npm"})

    assert not result.hit
    assert result.reason is not None and "unreadable" in result.reason
    assert save(store, key, {"npm-cache": write_tree(tmp_path / "1", STORE_FILES)}).saved


def test_a_store_that_fails_never_fails_the_build(tmp_path: Path) -> None:
    class Broken(LocalObjectStore):
        def get_bytes(self, key: str) -> bytes:
            raise OSError("disk on fire")

        def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
            raise OSError("disk on fire")

    store = Broken(tmp_path / "objects")
    key = npm_key(make_app(tmp_path / "app"))
    restored = restore(store, key, {"npm-cache": tmp_path / "home/.npm"})
    saved = save(store, key, {"npm-cache": write_tree(tmp_path / "1", STORE_FILES)})
    assert (restored.hit, saved.saved) == (False, False)
    assert "disk on fire" in str(restored.reason) and "disk on fire" in str(saved.reason)


def test_caches_behind_symlinks_are_neither_saved_nor_restored(
    store: ObjectStore, tmp_path: Path
) -> None:
    """A build that links `node_modules/.cache` to /etc must not get /etc back next time."""
    app = make_app(tmp_path / "app")
    key = npm_key(app)
    (app / "node_modules").mkdir()
    (app / "node_modules/.cache").symlink_to("/etc")
    linked_parent = tmp_path / "elsewhere"
    write_tree(linked_parent, {"cache/x": b"x"})
    (app / ".next").symlink_to(linked_parent)

    result = save(
        store,
        key,
        {"node_modules/.cache": app / "node_modules/.cache", ".next/cache": app / ".next/cache"},
    )
    assert not result.saved
    assert objects(store) == []

    save(store, key, {".next/cache": write_tree(tmp_path / "real", {"y": b"y"})})
    restored = restore(store, key, {".next/cache": app / ".next/cache"})
    assert not restored.hit
    assert "symlink" in str(restored.reason)
    assert not (linked_parent / "cache/y").exists()


# -- package managers ---------------------------------------------------------------


@pytest.mark.parametrize("manager", ["npm", "pnpm", "yarn", "bun"])
def test_every_manager_has_a_store_under_home_and_the_framework_caches(
    tmp_path: Path, manager: str
) -> None:
    home, app = tmp_path / "home", tmp_path / "app"
    dirs = package_manager_cache_dirs(manager, home, app)
    stores = {name: path for name, path in dirs.items() if name not in FRAMEWORK_CACHE_DIRS}
    assert len(stores) == 1
    (store_dir,) = stores.values()
    assert store_dir.is_relative_to(home)
    assert str(store_dir) in package_manager_cache_env(manager, home).values()
    for name in FRAMEWORK_CACHE_DIRS:
        assert dirs[name] == app / name


def test_npm_uses_the_cache_directory_the_env_names(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(home)}
    env.update(package_manager_cache_env("npm", home))
    answer = subprocess.run(
        ["npm", "config", "get", "cache"], env=env, capture_output=True, text=True, check=True
    )
    assert (
        Path(answer.stdout.strip())
        == package_manager_cache_dirs("npm", home, tmp_path)["npm-cache"]
    )


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize(
    ("manager", "version", "command"),
    [
        ("pnpm", "9.15.9", ["pnpm", "store", "path"]),
        ("yarn", "1.22.22", ["yarn", "cache", "dir"]),
        ("yarn", "4.5.3", ["yarn", "config", "get", "cacheFolder"]),
    ],
    ids=["pnpm-9", "yarn-classic", "yarn-berry"],
)
def test_real_package_managers_use_the_store_the_env_names(
    tmp_path: Path, manager: str, version: str, command: list[str]
) -> None:
    """Yarn 4 ignores YARN_CACHE_FOLDER unless its global cache is off: this catches that."""
    from deploy_platform.build.toolchain import provision

    toolchain = provision(TOOLCHAIN_CACHE, "22.12.0", manager, version, log=lambda _: None)
    home, app = tmp_path / "home", tmp_path / "app"
    home.mkdir()
    app.mkdir()
    (app / "package.json").write_text('{"name": "app", "version": "1.0.0", "license": "MIT"}\n')
    env = {"PATH": f"{toolchain.bin_dir}:{os.environ['PATH']}", "HOME": str(home)}
    env.update(package_manager_cache_env(manager, home))

    answer = subprocess.run(command, cwd=app, env=env, capture_output=True, text=True, check=True)

    (store_dir,) = (
        path
        for name, path in package_manager_cache_dirs(manager, home, app).items()
        if name not in FRAMEWORK_CACHE_DIRS
    )
    used = Path(answer.stdout.strip().splitlines()[-1])
    # pnpm and yarn 1 keep a layout version below the directory (v3/, v6/).
    assert used == store_dir or used.parent == store_dir, answer.stdout


@pytest.mark.network
@pytest.mark.slow
def test_a_restored_npm_cache_installs_offline(tmp_path: Path) -> None:
    """The point of it all: after a restore, `npm ci` needs nothing from the network."""
    store = LocalObjectStore(tmp_path / "objects")

    def npm(app_dir: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
        home.mkdir(exist_ok=True)
        env = {"PATH": os.environ["PATH"], "HOME": str(home)}
        env.update(package_manager_cache_env("npm", home))
        return subprocess.run(
            ["npm", *args, "--no-audit", "--no-fund"],
            cwd=app_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    app = tmp_path / "first"
    app.mkdir()
    (app / "package.json").write_text('{"name": "app", "dependencies": {"marked": "15.0.12"}}\n')
    first = npm(app, tmp_path / "home1", "install")
    assert first.returncode == 0, first.stderr
    key = cache_key("shop", app, "npm", None, "20")
    assert save(store, key, package_manager_cache_dirs("npm", tmp_path / "home1", app)).saved

    second_app = tmp_path / "second"
    second_app.mkdir()
    for name in ("package.json", "package-lock.json"):
        shutil.copy(app / name, second_app / name)
    home2 = tmp_path / "home2"
    restored = restore(store, key, package_manager_cache_dirs("npm", home2, second_app))
    assert restored.exact, restored.reason
    offline = npm(second_app, home2, "ci", "--offline")
    assert offline.returncode == 0, offline.stderr
    assert (second_app / "node_modules/marked/package.json").is_file()
