"""Source and build archives (gzip tars) and the trees they hold. Dagster-free.

- `pack`: a tree into a reproducible gzip tar.
- `scan`: an upload's tar headers checked while its bytes still arrive.
- `unpack`: an untrusted tar unpacked, never writing outside its directory.
- `tree`: a tree on disk walked, its links checked, counted, emptied.
"""
