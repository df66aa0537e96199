"""The build cache: package-manager stores and framework caches kept in the object store."""
