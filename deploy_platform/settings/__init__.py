"""The platform's settings: every variable declared once (`registry`), the shared
`Settings` the platform's processes build from them (`platform`), and the
configuration reference generated from the registry (`reference`).

Empty on purpose: `registry` is a dagster-free leaf the edge-origin imports
without `platform` (which brings the GitHub status client).
"""
