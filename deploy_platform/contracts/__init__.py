"""The formats the platform's parts agree on (dagster-free, a leaf: imports nothing else here).

Ids, names, records, the manifest, tags, errors, routing rules and their matching: what the
platform writes, `serve/` reads, and `edge-worker/` mirrors in JavaScript.
"""
