"""One Dagster `ConfigurableResource` per outside system; import each from its module."""
