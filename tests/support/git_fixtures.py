"""Git repositories served over smart HTTP on loopback (filled in by the git work)."""
