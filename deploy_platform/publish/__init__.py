"""Publishing: a directory becomes an immutable deployment, and aliases move to it.

`deployment` uploads and writes the manifest; `rule_files` reads the redirect and header
rules (`pages_rule_files` the `_redirects` / `_headers` files, as Cloudflare Pages does);
`compression` and `variants` make and remember precompressed bodies; `aliases` moves
pointers (`alias_moves` logs the moves, `rollback` chooses an earlier deployment);
`cloudflare_kv` and `wrangler_config` serve the Cloudflare Worker.
"""
