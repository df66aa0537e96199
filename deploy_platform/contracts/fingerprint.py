"""Which URL paths name fingerprinted (content-hashed) build assets.

Bundlers put a hash of the content into the names of the files they emit
(`assets/index-BxT3k9aZ.js` from Vite/Rollup, `static/js/main.3f2a1c9e.js` from
webpack/CRA, `chunk-ABCD1234.js` from esbuild, `_next/static/...` from Next.js),
so such a name never gets other bytes. The edge uses this three ways: they are
cached for a year (`immutable`), a missing one is a real 404 rather than a
single-page app's `index.html`, and skew protection serves them from the
previous production deployments.

The rule is conservative, since a false positive would make a browser keep a
changed file for a year. A hash part follows a `-` or `.` in the file name and
ends at the next `.`; it is either
  - hex, 6 to 64 characters, with at least one digit and one letter, or
  - exactly 8 characters of base64url (`A-Z a-z 0-9 _ -`, Rollup's and
    esbuild's length) with at least one digit and one capital letter.
So `jquery-3.6.0.min.js`, `my-component.js`, `build-v2.js`, `logo-2024.png`
and `deadbeef.js` are not fingerprinted.
`edge-worker/src/fingerprint.js` implements the same rule; both test against
`tests/fixtures/shared/fingerprint_cases.json`.
"""

from __future__ import annotations

import re

__all__ = ["is_fingerprinted"]

_SEPARATORS = "-."
_HEX = re.compile(r"^[0-9a-f]{6,64}$")
_BASE64URL_8 = re.compile(r"^[0-9A-Za-z_-]{8}$")
_DIGIT = re.compile(r"[0-9]")
_HEX_LETTER = re.compile(r"[a-f]")
_CAPITAL = re.compile(r"[A-Z]")
_NEXT_STATIC = "/_next/static/"


def is_fingerprinted(path: str) -> bool:
    """True when the URL path (`/assets/app-3f2a1c.js`) names a content-hashed asset."""
    if path.startswith(_NEXT_STATIC) and not path.endswith("/"):
        return True
    name = path.rsplit("/", 1)[-1]
    for start, char in enumerate(name):
        if char not in _SEPARATORS:
            continue
        end = name.find(".", start + 1)
        if end != -1 and _is_hash(name[start + 1 : end]):
            return True
    return False


def _is_hash(part: str) -> bool:
    if not _DIGIT.search(part):
        return False
    if _HEX.match(part):
        return bool(_HEX_LETTER.search(part))
    return bool(_BASE64URL_8.match(part) and _CAPITAL.search(part))
