// Cloudflare Pages' answers, in the Worker under Miniflare: the request/answer
// cases of Pages' asset server (packages/pages-shared, handler.test.ts and
// responses.test.ts in cloudflare/workers-sdk), plus paths.js on its own.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { parsePath, resolve, sameOriginLocation } from "../src/paths.js";
import { BASE, RULES_ID, SITE_ID, get, rawGet, startWorker } from "./support.mjs";

const site = `${SITE_ID}.${BASE}`;
const rules = `${RULES_ID}.${BASE}`;
const hints = `ghijklmnop23.${BASE}`;

describe("Pages' redirects never leave the host", () => {
  /** @type {any} */
  let mf;
  before(async () => {
    mf = await startWorker();
  });
  after(async () => {
    await mf?.dispose();
  });

  for (const [target, location] of [
    ["/%2Fwww.example.com/index/", "/www.example.com/"],
    ["/%5Cwww.example.com/index/", "/www.example.com/"],
    ["/%2Fwww.example.com/%2F/index/", "/www.example.com///"],
    ["/%2fwww.example.com/%2f/index/", "/www.example.com///"],
    ["/%5cwww.example.com/%5c/index/", "/www.example.com/%5C/"],
    ["/foo/index/", "/foo/"],
    ["/foo/index", "/foo/"],
    ["/file/index?x=1", "/file/?x=1"],
    ["/index.html", "/"],
    ["/index", "/"],
    ["/docs/page.html", "/docs/page"],
  ]) {
    test(`${target} -> 308 ${location}`, async () => {
      const got = await rawGet(mf, site, target);
      assert.equal(got.status, 308);
      assert.equal(got.headers.location, location);
    });
  }

  test("a tab, which a browser would drop from the Location, is refused with 400", async () => {
    assert.equal((await rawGet(mf, site, "/%09/www.example.com/%09/index/")).status, 400);
  });

  test("every answer of a site allows any origin and says its referrer policy", async () => {
    for (const [host, target, status] of [
      [site, "/", 200], [site, "/about", 308], [site, "/missing", 404], [rules, "/blog/a", 301],
      [rules, "/nothing.css", 404],
    ]) {
      const got = await get(mf, host, target);
      assert.equal(got.status, status, target);
      assert.equal(got.headers.get("access-control-allow-origin"), "*", target);
      assert.equal(got.headers.get("referrer-policy"), "strict-origin-when-cross-origin", target);
    }
  });

  test("header rules apply to the 404 page and to redirects; a 404 is never stored", async () => {
    const missing = await get(mf, rules, "/nothing.css");
    assert.equal(missing.headers.get("x-frame-options"), "DENY");
    assert.equal(missing.headers.get("cache-control"), "no-store");
    const moved = await get(mf, rules, "/blog/a");
    assert.equal(moved.headers.get("x-frame-options"), "DENY");
  });

  test("an HTML page carries the Link header its <link> elements make", async () => {
    const page = await get(mf, hints, "/");
    assert.equal(page.status, 200);
    assert.equal(
      page.headers.get("link"),
      '</site.css>; rel="preload"; as=style, </app.js>; rel="modulepreload", <https://cdn.example>; rel="preconnect"',
    );
    const replaced = await get(mf, hints, "/other");
    assert.equal(replaced.headers.get("link"), "</only.css>; rel=preload; as=style");
    assert.equal((await get(mf, hints, "/plain")).headers.get("link"), null);
  });
});

describe("paths.js", () => {
  test("the leading run of slashes, backslashes and blanks becomes one slash", () => {
    for (const [decoded, location] of [
      ["/", "/"], ["//foo", "/foo"], ["/\\/foo", "/foo"], ["/%2F%2f/foo", "/foo"], ["/%5C%5c/foo", "/foo"],
      ["/%2f%5c/foo", "/foo"], ["%2ffoo", "/foo"], ["/foo//", "/foo//"], ["/foo//bar", "/foo//bar"],
      ["/%09foo", "/foo"], ["/ \u3000/foo", "/foo"], ["/foo/\\/bar", "/foo/%5C/bar"], ["/a b/", "/a%20b/"],
    ]) {
      assert.equal(sameOriginLocation(decoded), location, decoded);
    }
  });

  test("Pages' html rules over a manifest", () => {
    const manifest = { files: new Map(["/index.html", "/page.html", "/both", "/both.html", "/docs/index.html"].map((k) => [k, {}])) };
    const outcome = (/** @type {string} */ raw) => {
      const r = resolve(/** @type {any} */ (manifest), parsePath(raw));
      return r.outcome === "not found" ? ["not found"] : [r.outcome, r.target];
    };
    assert.deepEqual(outcome("/page"), ["file", "/page.html"]);
    assert.deepEqual(outcome("/page/"), ["redirect", "/page"]);
    assert.deepEqual(outcome("/both/"), ["redirect", "/both"]);
    assert.deepEqual(outcome("/both.html"), ["file", "/both.html"]);
    assert.deepEqual(outcome("/docs"), ["redirect", "/docs/"]);
    assert.deepEqual(outcome("/docs/index"), ["redirect", "/docs/"]);
    assert.deepEqual(outcome("/nope/index/"), ["redirect", "/nope/"]);
    assert.deepEqual(outcome("/nope/"), ["not found"]);
  });
});
