"""Projects: a repository's deploy settings, stored durably, and its branch rules.

`model` is what a project is and how requests change it, `branches` decides
which pushed branches deploy, `store` keeps projects in the object store (the
source of truth) and indexes them in Redis.
"""
