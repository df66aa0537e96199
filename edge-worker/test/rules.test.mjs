// Pages rule matching in the Worker gives the answers of Cloudflare Pages and of the
// Python edge (tests/contracts/test_routing_pages.py runs the same cases).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parsePath } from "../src/paths.js";
import {
  PROTECTED_HEADERS,
  applyHeaderChanges,
  applyRules,
  compilePagesPattern,
  compileRoutes,
  pagesLocation,
  ruleHeaderChanges,
  rewritePathname,
} from "../src/rules.js";

const CASES = JSON.parse(readFileSync(new URL("./fixtures/rules-cases.json", import.meta.url), "utf8"));

for (const [index, group] of CASES.matching.entries()) {
  test(`Pages matching, group ${index}: every matching rule, in order, placeholders filled`, () => {
    const usable = group.rules.filter(([source]) => compilePagesPattern(source) !== null);
    const routes = compileRoutes({
      headers: usable.map(([source, template], n) => ({
        source, headers: [[`x-rule-${n}`, template]], detach: [], pages: true,
      })),
    });
    for (const [host, pathname, expected] of group.requests) {
      const changes = ruleHeaderChanges({ routes }, parsePath(pathname), { host, pathname });
      assert.deepEqual(changes.set.map(([, value]) => value), expected, `${host}${pathname}`);
    }
  });
}

test("Location headers are written as Pages writes them", () => {
  for (const [destination, host, query, expected] of CASES.locations) {
    assert.equal(pagesLocation(destination, host, query), expected, `${destination} ? ${query}`);
  }
});

test("a 200 rule serves its destination's path", () => {
  for (const [destination, expected] of CASES.rewrites) assert.equal(rewritePathname(destination), expected);
});

test("the request pathname the Worker matches is the one the Python edge computes", () => {
  for (const [raw, expected] of CASES.pathnames) {
    assert.equal(new URL(`https://example.com${raw}`).pathname, expected, raw);
  }
});

test("rule headers replace the platform's, `! Name` removes them, framing stays out of reach", () => {
  const routes = compileRoutes({
    headers: [
      { source: "/*", headers: [["x-content-type-options", "off"], ["referrer-policy", "no-referrer"]], detach: [], pages: true },
      { source: "/assets/*", headers: [["cache-control", "public, max-age=60"]], detach: ["referrer-policy"], pages: true },
      { source: "/assets/:file", headers: [["link", "</:file>; rel=preload"], ["x-file", ":splat :file"]], detach: [], pages: true },
    ],
  });
  const base = [
    ["Cache-Control", "public, max-age=0, must-revalidate"], ["X-Content-Type-Options", "nosniff"],
    ["Referrer-Policy", "strict-origin-when-cross-origin"], ["Content-Length", "12"],
  ];
  const changes = ruleHeaderChanges({ routes }, parsePath("/assets/app.js"), { pathname: "/assets/app.js" });
  assert.deepEqual(changes.unset, ["referrer-policy"]);
  assert.deepEqual(applyHeaderChanges(base, changes), [
    ["Content-Length", "12"],
    ["x-content-type-options", "off"],
    ["cache-control", "public, max-age=60"],
    ["link", "</app.js>; rel=preload"],
    ["x-file", ":splat app.js"],
  ]);
  assert.ok(PROTECTED_HEADERS.has("content-length") && !PROTECTED_HEADERS.has("x-content-type-options"));
});

test("Pages redirects apply before files; netlify.toml rules keep Netlify's shadowing", () => {
  const entry = { blob: "x", size: 1, content_type: "text/html", etag: '"x"', headers: {} };
  const manifest = {
    files: new Map([["/about.html", entry], ["/kept.html", entry], ["/index.html", entry]]),
    routes: compileRoutes({
      redirects: [
        { source: "/about", destination: "/about-us", status: 302, force: true, pages: true },
        { source: "/kept", destination: "/elsewhere", status: 301, force: false },
        { source: "/some%20page", destination: "https://example.com/:x#top", status: 308, force: true, pages: true },
        { source: "/app/*", destination: "/index.html?ignored=1", status: 200, force: true, pages: true },
      ],
    }),
  };
  const about = applyRules(manifest, parsePath("/about"), "a=1", { host: "site.test", pathname: "/about" });
  assert.deepEqual(about, { action: "redirect", status: 302, location: "/about-us?a=1" });
  assert.equal(applyRules(manifest, parsePath("/kept"), "", { pathname: "/kept" }).action, "none");
  const spaced = applyRules(manifest, parsePath("/some%20page"), "", { host: "site.test", pathname: "/some%20page" });
  assert.deepEqual(spaced, { action: "redirect", status: 308, location: "https://example.com/:x#top" });
  const app = applyRules(manifest, parsePath("/app/x/y"), "", { pathname: "/app/x/y" });
  assert.equal(app.action, "serve");
  assert.equal(app.resolution.outcome, "file");
  assert.equal(app.resolution.target, "/index.html");
});

test("Pages handler redirect cases: replacements, queries, line-number precedence", () => {
  const manifest = {
    files: new Map(),
    routes: compileRoutes({
      redirects: [
        ["https://fakehost/home", "https://firsthost/"],
        ["/home", "https://secondhost/"],
        ["/", "/home"],
        ["/recent", "/home?sort=updated_at"],
        ["/blog/*", "https://blog.example.com/:splat"],
        ["/products/:code/:name/*", "/products?junk=:splat&name=:name&code=:code"],
        ["/protocol-less-test", "/%2fwww.example.com/"],
      ].map(([source, destination]) => ({ source, destination, status: 301, force: true, pages: true })),
    }),
  };
  const location = (pathname, query = "", host = "example.com") => {
    const decision = applyRules(manifest, parsePath(pathname), query, { host, pathname });
    assert.equal(decision.action, "redirect", pathname);
    return decision.location;
  };
  assert.equal(location("/home", "", "yetanotherhost"), "https://secondhost/");
  assert.equal(location("/home", "", "fakehost"), "https://firsthost/");
  assert.equal(location("/", "sort=price"), "/home?sort=price");
  assert.equal(location("/recent", "other=query"), "/home?sort=updated_at");
  assert.equal(location("/blog/a-blog-posting"), "https://blog.example.com/a-blog-posting");
  assert.equal(
    location("/products/abba_562/tricycle/123abc@~!"),
    "/products?junk=123abc@~!&name=tricycle&code=abba_562",
  );
  assert.equal(location("/protocol-less-test"), "/%2fwww.example.com/");
});

test("set, then `! Name`, then set again: the last value, as Pages' metadata gives it", () => {
  const routes = compileRoutes({
    headers: [
      { source: "/*", headers: [["x-custom-header", "value"]], detach: [], pages: true },
      { source: "/foo/*", headers: [], detach: ["x-custom-header"], pages: true },
      { source: "/foo/bar/*", headers: [["x-custom-header", "newvalue"]], detach: [], pages: true },
    ],
  });
  const at = (pathname) => applyHeaderChanges(
    [["X-Custom-Header", "platform"]],
    ruleHeaderChanges({ routes }, parsePath(pathname), { pathname }),
  );
  assert.deepEqual(at("/x"), [["x-custom-header", "value"]]);
  assert.deepEqual(at("/foo/x"), []);
  assert.deepEqual(at("/foo/bar/x"), [["x-custom-header", "newvalue"]]);
});
