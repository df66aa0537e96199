"""Where a deployment's source comes from: repository URLs, Git over HTTP(S), source archives."""
