"""Git over HTTP(S): resolve a ref to a commit, fetch one commit. Dagster-free."""
