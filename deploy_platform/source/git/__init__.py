"""Git over HTTP(S): resolve a ref to a commit, fetch one commit. Dagster-free.

- `remote`: `ls_remote` and `fetch_commit`, what the platform asks of git.
- `session`: the hardened environment every git call runs in (SECURITY: its
  docstring lists the layers of defence).
- `process`: one git process supervised: a deadline, a size watch, a group kill.
- `limits`: sizes and paths measured against `max_bytes` and `tree_limits`.
- `errors`: `RefNotFound`, `RepositoryTooLarge`, git's stderr in plain words.
"""
