// Every per-isolate cache is bounded, and manifests are weighed by what they
// cost (src/memory.js). Guards the isolate's 128 MB: a 20,000-file manifest
// must not count as "one entry", a manifest larger than the budget is served
// but not kept, and concurrent requests for a cold site parse its manifest once.
//
// The first part measures V8's heap in this Node process (gc exposed at run
// time); the second runs the Worker in Miniflare with the Cache API off, so
// that every manifest the isolate does not keep is read from R2 again, where
// the probe binding counts it.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import v8 from "node:v8";
import vm from "node:vm";
import { parseManifest, DeploymentLookup } from "../src/lookup.js";
import { ENTRIES, HISTORY_ENTRIES, LRU, OVERSIZE_NOTES, WeighedLRU, manifestWeight } from "../src/memory.js";
import { applyRules, ruleHeaders } from "../src/rules.js";
import { parsePath } from "../src/paths.js";
import { BASE, SITE_ID, STORE, get, pause, startWorker } from "./support.mjs";

v8.setFlagsFromString("--expose-gc");
const gc = /** @type {() => void} */ (vm.runInNewContext("gc"));

const sha256 = (/** @type {string} */ text) => createHash("sha256").update(text).digest("hex");

/**
 * A manifest like a real site's (nested paths, mixed types, Brotli and gzip
 * variants for text), as deploy_platform/manifest.py writes it; `salt` makes
 * every string its own, so copies share nothing (V8 shares equal RegExps).
 */
function manifestJson({ files = 3, redirects = 0, headerRules = 0, salt = 0 }) {
  /** @type {Record<string, object>} */
  const entries = {};
  for (let i = 0; i < files; i++) {
    const ext = ["html", "js", "css", "png"][i % 4];
    const path = `/docs-${salt}/section-${i % 40}/page-${String(i).padStart(5, "0")}.${ext}`;
    const blob = sha256(path);
    entries[path] = {
      blob,
      content_type: ext === "png" ? "image/png" : "text/html; charset=utf-8",
      etag: `"${blob}"`,
      headers: {},
      size: i,
      ...(ext === "png" ? {} : { encodings: { br: { blob: sha256(`${path}.br`), size: i }, gzip: { blob: sha256(`${path}.gz`), size: i } } }),
    };
  }
  const routes = redirects + headerRules === 0 ? undefined : {
    redirects: Array.from({ length: redirects }, (_, i) => ({ source: `/old-${salt}/${i}/*`, destination: `/new/${i}/:splat`, status: 301, force: false })),
    headers: Array.from({ length: headerRules }, (_, i) => ({ source: `/area-${salt}-${i}/*`, headers: [["X-Area", String(i)]], detach: [] })),
  };
  return JSON.stringify({ version: 1, deployment: SITE_ID, created_at: 1.5, files: entries, ...(routes ? { routes } : {}) });
}

/**
 * Heap bytes one parsed manifest keeps, averaged over `copies` distinct ones;
 * its rules are matched once, so their RegExp code is compiled and counted.
 */
function measuredBytes(shape, copies) {
  const texts = Array.from({ length: copies }, (_, salt) => Buffer.from(manifestJson({ ...shape, salt })));
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept = texts.map((bytes, salt) => {
    const manifest = parseManifest(JSON.parse(bytes.toString("utf8")), SITE_ID);
    for (const path of ["/nowhere", `/area-${salt}-0/x`, `/old-${salt}/0/x`]) {
      applyRules(manifest, parsePath(path), "");
      ruleHeaders(manifest, parsePath(path));
    }
    return manifest;
  });
  gc();
  gc();
  const used = process.memoryUsage().heapUsed - before;
  assert.equal(kept.length, copies); // keeps `kept` alive until measured
  return { actual: used / copies, estimate: manifestWeight(texts[0].length, kept[0]) };
}

describe("a manifest's weight", () => {
  for (const [label, shape, copies] of [
    ["1 file", { files: 1 }, 2000],
    ["3 files", { files: 3 }, 2000],
    ["200 files", { files: 200 }, 50],
    ["20,000 files", { files: 20_000 }, 2],
    ["25 rules", { files: 3, redirects: 20, headerRules: 5 }, 200],
    ["2,100 rules", { files: 5, redirects: 2000, headerRules: 100 }, 3],
  ]) {
    test(`covers what it costs in V8's heap: ${label}`, () => {
      const { actual, estimate } = measuredBytes(shape, copies);
      // Never an underestimate (the cache would outgrow its budget), and not so
      // high that the budget holds far fewer manifests than it could. heapUsed is
      // noisy for the smallest manifests (a CI run measured 1,010 bytes against an
      // estimate of 2,066), hence 2.5 rather than 2.
      assert.ok(actual <= estimate && estimate <= 2.5 * actual, `measured ${actual}, estimated ${estimate}`);
    });
  }

  test("of 20,000 files is thousands of times that of 3 files", () => {
    const weigh = (shape) => {
      const text = manifestJson(shape);
      return manifestWeight(text.length, parseManifest(JSON.parse(text), SITE_ID));
    };
    assert.ok(weigh({ files: 20_000 }) / weigh({ files: 3 }) > 2000);
  });
});

describe("per-isolate maps", () => {
  test("the answer maps stay at their bound, under 14 MB together at their fullest", () => {
    gc();
    gc();
    const before = process.memoryUsage().heapUsed;
    const lookup = new DeploymentLookup({ get: async () => null }, undefined, { manifestCacheBytes: 0, manifestCacheEntries: null, answerCacheSeconds: 0 });
    const name = (/** @type {number} */ i, /** @type {number} */ length) => `${i}-`.padEnd(length, "x");
    const until = 2e12;
    for (let i = 0; i < ENTRIES + 5_000; i++) {
      lookup.aliasCache.set(name(i, 63), { target: undefined, until });
      lookup.domainCache.set(`${name(i, 240)}.example`, { project: null, until });
      const history = Array.from({ length: 5 }, (_, j) => ({ deployment: name(i * 5 + j, 12), replacedAt: 1.7e9 + j }));
      lookup.historyCache.set(name(i, 63), { history, until });
      lookup.noManifest.set(name(i, 12), until);
      lookup.oversizeNoted.set(name(i, 12), until);
    }
    gc();
    gc();
    const used = process.memoryUsage().heapUsed - before;
    for (const map of [lookup.aliasCache, lookup.domainCache, lookup.noManifest]) assert.equal(map.size, ENTRIES);
    assert.equal(lookup.historyCache.size, HISTORY_ENTRIES);
    assert.equal(lookup.oversizeNoted.size, OVERSIZE_NOTES);
    assert.ok(used < 14e6, `the full maps take ${used} bytes`);
  });

  test("the manifest LRU keeps an explicit weight and an optional entry cap", () => {
    const cache = new WeighedLRU(100, 2);
    assert.equal(cache.set("a", "A", 60), true);
    cache.set("b", "B", 30);
    assert.equal(cache.weight, 90);
    cache.set("c", "C", 5); // the third entry: over the cap, "a" goes
    assert.equal(cache.get("a"), undefined);
    assert.deepEqual([cache.size, cache.weight], [2, 35]);
    assert.equal(cache.set("d", "D", 101), false); // heavier than the whole budget: not kept, nothing lost
    assert.deepEqual([cache.get("d"), cache.size], [undefined, 2]);
    cache.get("b"); // used: now "c" is the oldest
    cache.set("e", "E", 70); // 30 + 5 + 70 > 100: the least recently used ("c") goes
    assert.deepEqual([cache.get("c"), cache.get("b"), cache.get("e"), cache.weight], [undefined, "B", "E", 100]);

    const nothing = new WeighedLRU(100, 0);
    assert.equal(nothing.set("a", "A", 1), false);
    assert.deepEqual([nothing.size, nothing.weight], [0, 0]);
    const counted = new LRU(2);
    for (const key of ["a", "b", "c"]) counted.set(key, key);
    assert.deepEqual([...counted.map.keys()], ["b", "c"]);
  });
});

const SPA_ID = "cdefghijkl67"; // another deployment of the fixture store, with an index.html

/** The weight the Worker gives a fixture deployment's manifest. */
async function fixtureWeight(/** @type {string} */ id) {
  const text = await readFile(join(STORE, "deployments", id, "manifest.json"), "utf8");
  return manifestWeight(text.length, parseManifest(JSON.parse(text), id));
}

/**
 * A Worker without the Cache API, R2 read through a probe; `visit(id)` asks for
 * the deployment's home page and says how many times its manifest was read so far.
 */
async function isolate(bindings, logs) {
  const probe = { gets: [], failing: false };
  const mf = await startWorker({ probe, cache: false, logs, bindings: { BASE_DOMAIN: BASE, ...bindings } });
  const reads = (/** @type {string} */ id) => probe.gets.filter((key) => key === `deployments/${id}/manifest.json`).length;
  const visit = async (/** @type {string} */ id) => {
    const got = await get(mf, `${id}.${BASE}`, "/");
    assert.equal(got.status, 200, `${id}: ${got.text}`);
    return reads(id);
  };
  return { mf, probe, reads, visit };
}

describe("MANIFEST_CACHE_BYTES", () => {
  test("the default keeps the manifests of several sites: each is read once", async () => {
    const { mf, visit } = await isolate({});
    try {
      for (const id of [SITE_ID, SPA_ID, SITE_ID, SPA_ID]) await visit(id);
      assert.deepEqual([await visit(SITE_ID), await visit(SPA_ID)], [1, 1]);
    } finally {
      await mf.dispose();
    }
  });

  test("manifests are weighed: a budget for one of two sites reads them again in turn", async () => {
    const [site, spa] = [await fixtureWeight(SITE_ID), await fixtureWeight(SPA_ID)];
    const { mf, visit } = await isolate({ MANIFEST_CACHE_BYTES: String(Math.max(site, spa) + 100) });
    try {
      for (const id of [SITE_ID, SPA_ID, SITE_ID, SPA_ID]) await visit(id);
      assert.deepEqual([await visit(SITE_ID), await visit(SITE_ID)], [3, 3]); // pushed out by the other, then kept
    } finally {
      await mf.dispose();
    }
  });

  test("MANIFEST_CACHE_ENTRIES caps their number under a large budget", async () => {
    const { mf, visit } = await isolate({ MANIFEST_CACHE_ENTRIES: "1" });
    try {
      for (const id of [SITE_ID, SPA_ID]) await visit(id);
      assert.deepEqual([await visit(SITE_ID), await visit(SITE_ID)], [2, 2]);
    } finally {
      await mf.dispose();
    }
  });

  test("a manifest larger than the budget is served every time but not kept, and said once", async () => {
    const [site, spa] = [await fixtureWeight(SITE_ID), await fixtureWeight(SPA_ID)];
    assert.ok(spa < site);
    const logs = [];
    const { mf, visit } = await isolate({ MANIFEST_CACHE_BYTES: String(site - 1) }, logs);
    try {
      for (const id of [SPA_ID, SITE_ID, SITE_ID]) await visit(id);
      assert.equal(await visit(SITE_ID), 3);
      assert.equal(await visit(SPA_ID), 1); // what fits is still kept, nothing pushed out
      let warnings = [];
      for (let attempt = 0; attempt < 50 && warnings.length === 0; attempt++) {
        await pause(20); // workerd's output reaches the test asynchronously
        warnings = logs.filter((line) => line.includes(`MANIFEST_CACHE_BYTES=${site - 1}`));
      }
      assert.equal(warnings.length, 1, logs.join("\n"));
      assert.match(warnings[0], new RegExp(`the manifest of ${SITE_ID} .* is larger than the manifest cache`));
    } finally {
      await mf.dispose();
    }
  });

  test("concurrent requests for a cold site read and parse its manifest once", async () => {
    const { mf, probe, reads } = await isolate({});
    try {
      /** @type {() => void} */
      let release = () => {};
      probe.hold = new Promise((resolve) => {
        release = () => resolve(undefined);
      });
      const answers = Array.from({ length: 20 }, () => get(mf, `${SITE_ID}.${BASE}`, "/"));
      for (let attempt = 0; attempt < 100 && reads(SITE_ID) === 0; attempt++) await pause(10);
      await pause(200); // the other requests reach the Worker while the first read is held
      probe.hold = undefined;
      release();
      for (const got of await Promise.all(answers)) assert.equal(got.status, 200);
      assert.equal(reads(SITE_ID), 1);
    } finally {
      await mf.dispose();
    }
  });
});
