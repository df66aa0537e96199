"""The build cache: package-manager stores and framework caches kept in the object store.

Modules: `keys` (which entry a build wants), `locations` (where package managers
keep their stores), `entries` (sidecars in the object store, pruning), `trees`
(fingerprints and paths of the cached directories), `restore` and `save`.

Layout, per project (the project is the cache's isolation boundary):

  cache/<project>/<entry>.json                    the entry's sidecar, written LAST
  cache/<project>/<entry>/<save-id>/<part>.tar.gz one gzip tar per cached directory

An entry name reads `<pm><pm-version>-node<major>-<dependency hash>` (the hash of the
lockfiles and of package.json's dependency fields), for example
`pnpm9.12.0-node20-3f2a...`; `keys.cache_key` returns `<project>/<entry>`. The package
manager, its version and the Node major are part of the name so that an upgrade
never restores a store the new tools cannot read.

Why one tar per directory rather than one tar for all: `pack_directory` and
`safe_extract` then work on each directory as they are (no nesting, no second copy
on disk), a caller restores just the names it asks for (the package store before
install, framework caches after it, since `npm ci` deletes `node_modules`), and one
part that is refused does not hide how big the others are. The sidecar names the
parts of one save (a fresh save id each time), so two builds saving the same key at
once never mix their parts: the last sidecar wins and the other parts become
orphans that the next prune deletes. Like the deployment manifest, the sidecar is
written last: an entry without one does not exist.

The sidecar (JSON) holds `created` (Unix time, used to pick the newest entry), the
parts with their object keys, sizes and fingerprints, and the total packed bytes.

Fallback: when the exact key has no entry, `restore` takes the newest entry of the
same project with the same package manager, version and Node major (the same entry
name up to the lockfile hash). A lockfile change usually keeps most packages, so the
install still finds nearly everything in the store.

Saving: skipped after an exact hit when the trees are still the ones the entry
holds (same names, paths, types, link targets and contents -- see `trees.tree_fingerprint`);
otherwise the parts and then the sidecar are written, and the project is pruned to its newest
`keep` entries within `max_project_bytes` (the newest entry always stays).

SECURITY: an entry was written by earlier builds of the user's code, so it is as
untrusted as a source upload. Every part is unpacked with `safe_extract` (no
escaping names or links, no devices, byte and file caps), the sidecar is parsed
strictly (only object keys under the entry's own prefix), and a refused entry is
wiped from the targets before anything else is tried. Entries are scoped to one
project; within a project a preview build can still write what production later
restores, which the package managers tolerate (they verify package integrity
against the lockfile) but framework caches do not verify.

Nothing here fails a build: `restore` and `save` catch every error, log it, and
return a result that says why nothing (or less) was done.
"""
