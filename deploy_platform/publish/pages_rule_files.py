"""`_redirects` and `_headers`, parsed as Cloudflare Pages parses them.

Pages' parser (workers-sdk pages-shared metadata-generator parseRedirects.ts and
parseHeaders.ts) is the specification; this is our reading of it. A line that cannot be
used never fails the deployment: it is skipped, and a warning names its line and why
(`_redirects line 4: skipped: ...`), as Pages' build log does.

Both files: every line is trimmed first, so indentation means nothing (a file written
from an indented template string works); empty lines and lines starting with `#` are
skipped; a line longer than 2,000 characters is skipped.

`_redirects`: `from to [status]`, whitespace-separated. `from` is a path (its query
string and fragment are dropped, as Pages does); `to` a path or an https:// URL, kept
with its query string and fragment. The status defaults to 302; 200 serves `to` in
place (Pages calls it proxying) and must be a path. Pages' limits: 2,000 static rules
(no `*`, no `:name`, and above every dynamic rule), then 100 dynamic ones, after which
the rest of the file is skipped. A second rule for the same `from` is skipped, and so
are `/* /index.html`-style rules that would loop against the clean-URL redirects.
Where we accept more than Pages (documented in docs/guides/redirects-and-headers.md):
  - a token starting with `#` starts a comment (`/a /b 301 # moved`); Pages would
    refuse the line for its token count. `#` inside a token is kept (`/b#top`);
  - `301!` (Netlify's forced rule) is read as 301: every Pages rule is forced anyway;
  - `from` may name a host (`https://old.example.com/* https://example.com/:splat`),
    which Pages' matcher supports and its parser refuses.

`_headers`: a line that starts with `/` or `scheme://` is a path (or host) pattern;
the `Name: value` lines after it are its headers, `! Name` removes a header. A name
given twice in one rule (in any case) gets both values joined with `, `. Pages stores
names lowercased; we keep the author's spelling, which means the same in HTTP.
Pages' limit: 100 rules (its parser lets the 101st through, so do we).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from deploy_platform.contracts.routing import (
    MAX_DYNAMIC_REDIRECTS,
    MAX_HEADER_RULES,
    MAX_LINE_LENGTH,
    MAX_STATIC_REDIRECTS,
    PAGES_STATUSES,
    HeaderRule,
    Redirect,
    RoutingError,
    check_header,
    is_dynamic,
    validate_url,
)
from deploy_platform.contracts.routing.pages import url_has_host

__all__ = ["parse_redirects_file", "parse_headers_file"]

_LOOKS_LIKE_A_PATH = re.compile(r"^(?:\S+://|/)")
_TO_INDEX = re.compile(r"/index(.html)?$")
_STATUS = re.compile(r"^([0-9]+)(!?)$")


def _lines(text: str) -> list[str]:
    # JavaScript's trim() also drops a byte-order mark.
    return [line.strip().strip("\ufeff").strip() for line in text.split("\n")]


def _warn(warnings: list[str], where: str) -> Callable[[str], None]:
    return lambda reason: warnings.append(f"{where}: skipped: {reason}")


def _source(token: str) -> tuple[str | None, str]:
    if url_has_host(token):
        return validate_url(token, disallow_ports=True)
    return validate_url(token, only_relative=True)


def parse_redirects_file(
    text: str, filename: str = "_redirects"
) -> tuple[list[Redirect], list[str]]:
    """The usable rules, in order, and one warning per skipped line."""
    rules: list[Redirect] = []
    warnings: list[str] = []
    seen: set[str] = set()
    static = dynamic = 0
    may_be_static = True
    lines = _lines(text)
    for index, line in enumerate(lines):
        if not line or line.startswith("#"):
            continue
        where = f"{filename} line {index + 1}"
        skip = _warn(warnings, where)
        if len(line) > MAX_LINE_LENGTH:
            skip(f"longer than the maximum of {MAX_LINE_LENGTH} characters")
            continue
        tokens = line.split()
        comment = next((n for n, token in enumerate(tokens) if token.startswith("#")), None)
        tokens = tokens[:comment]
        if len(tokens) not in (2, 3):
            skip(f"expected exactly 2 or 3 whitespace-separated tokens, got {len(tokens)}")
            continue
        source, reason = _source(tokens[0])
        if source is None:
            skip(reason)
            continue
        if may_be_static and not is_dynamic(source):
            static += 1
            if static > MAX_STATIC_REDIRECTS:
                skip(f"more than {MAX_STATIC_REDIRECTS} static rules (Pages' limit)")
                continue
        else:
            may_be_static = False
            dynamic += 1
            if dynamic > MAX_DYNAMIC_REDIRECTS:
                warnings.append(
                    f"{where}: skipped with the remaining {len(lines) - index} lines of the "
                    f"file: more than {MAX_DYNAMIC_REDIRECTS} dynamic rules (Pages' limit)"
                )
                break
        destination, reason = validate_url(tokens[1], include_search=True, include_hash=True)
        if destination is None:
            skip(reason)
            continue
        status_text = tokens[2] if len(tokens) == 3 else "302"
        status_match = _STATUS.match(status_text)
        status = int(status_match.group(1)) if status_match else 0
        if status not in PAGES_STATUSES:
            skip(
                "valid status codes are 200, 301, 302 (default), 303, 307 and 308; "
                f"got {status_text}"
            )
            continue
        relative = not url_has_host(destination)
        if (
            relative
            and (source.endswith("/*") or source.endswith("/"))
            and _TO_INDEX.search(destination)
        ):
            skip(
                "infinite loop: the destination's `.html` or `/index` would be stripped by "
                "a clean-URL redirect that matches this rule again"
            )
            continue
        if source in seen:
            skip(f"a rule for {source} came earlier")
            continue
        seen.add(source)
        try:
            rules.append(Redirect(source, destination, status, True, where, pages=True))
        except RoutingError as exc:
            skip(str(exc).removeprefix(f"{where}: "))
    return rules, warnings


@dataclass
class _Open:
    path: str
    where: str
    headers: dict[str, str] = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)


def parse_headers_file(text: str, filename: str = "_headers") -> tuple[list[HeaderRule], list[str]]:
    """The usable header rules, in order, and one warning per skipped line."""
    rules: list[HeaderRule] = []
    warnings: list[str] = []
    current: _Open | None = None

    def close(rule: _Open) -> None:
        if not rule.headers and not rule.unset:
            warnings.append(f"{rule.where}: skipped: no headers under the path {rule.path}")
            return
        try:
            rules.append(
                HeaderRule(
                    rule.path,
                    tuple(rule.headers.items()),
                    tuple(rule.unset),
                    rule.where,
                    pages=True,
                )
            )
        except RoutingError as exc:
            warnings.append(f"{rule.where}: skipped: {str(exc).removeprefix(rule.where + ': ')}")

    lines = _lines(text)
    for index, line in enumerate(lines):
        if not line or line.startswith("#"):
            continue
        where = f"{filename} line {index + 1}"
        skip = _warn(warnings, where)
        if len(line) > MAX_LINE_LENGTH:
            skip(f"longer than the maximum of {MAX_LINE_LENGTH} characters")
            continue
        if _LOOKS_LIKE_A_PATH.match(line):
            if len(rules) >= MAX_HEADER_RULES:
                warnings.append(
                    f"{where}: skipped with the remaining {len(lines) - index} lines of the "
                    f"file: more than {MAX_HEADER_RULES} header rules (Pages' limit)"
                )
                break  # the rule still open is kept, as Pages keeps it
            if current is not None:
                close(current)
            path, reason = validate_url(line, disallow_ports=True, include_search=True)
            current = None if path is None else _Open(path, where)
            if path is None:
                skip(reason)
            continue
        if ":" not in line:
            if current is not None and line.startswith("! "):
                name = line[2:].strip()
                try:
                    check_header(name, "", where)
                except RoutingError as exc:
                    skip(str(exc).removeprefix(f"{where}: "))
                    continue
                current.unset.append(name)
            elif current is None:
                skip("expected a path beginning with a forward-slash")
            else:
                skip("expected a colon-separated header pair (name: value)")
            continue
        raw_name, _colon, raw_value = line.partition(":")
        name, value = raw_name.strip(), raw_value.strip()
        if " " in name:
            skip("a header name cannot include spaces")
        elif not name:
            skip("no header name")
        elif not value:
            skip("no header value")
        elif current is None:
            skip(f"a path must come before the header ({name.lower()}: {value})")
        else:
            try:
                check_header(name, value, where)
            except RoutingError as exc:
                skip(str(exc).removeprefix(f"{where}: "))
                continue
            # Names compare case-insensitively; the first spelling is the one sent.
            spelled = next(
                (known for known in current.headers if known.lower() == name.lower()), name
            )
            earlier = current.headers.get(spelled)
            current.headers[spelled] = f"{earlier}, {value}" if earlier else value
    if current is not None:
        close(current)
    return _one_per_path(rules, warnings), warnings


def _one_per_path(rules: list[HeaderRule], warnings: list[str]) -> list[HeaderRule]:
    """Pages stores header rules keyed by path: a later rule for the same path replaces
    the earlier one, in the earlier one's place."""
    kept: dict[str, HeaderRule] = {}
    for rule in rules:
        earlier = kept.get(rule.source)
        if earlier is not None:
            warnings.append(
                f"{earlier.origin}: skipped: {rule.origin} has a rule for the same path "
                f"{rule.source}, which replaces this one"
            )
        kept[rule.source] = rule
    return list(kept.values())
