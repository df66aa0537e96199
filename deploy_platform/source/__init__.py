"""Where a deployment's source comes from: repository URLs, Git over HTTP(S), source archives.

- `repo_url`: is a repository URL one the platform may fetch (and which addresses)?
- `refs`: is a string a valid ref or a full commit SHA? Pure; what the API,
  webhooks and projects import.
- `git/`: resolve a ref and fetch one commit, with git hardened and supervised.
- `archive/`: pack a tree, scan an upload as it arrives, unpack an untrusted
  archive, check a tree on disk.
"""
