// What the golden answers cannot show: configuration errors, the optional KV
// alias and domain indexes, alias moves, domains added while serving, the skew
// grace period measured against the clock, paths the runtime's URL parser
// rewrites, a store that breaks under a deployment, and precompressed variants
// and ranges as they leave the runtime (through Miniflare's emulation of
// Cloudflare's compression).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { BASE, OLD_ID, RULES_ID, SITE_ID, STORE, get, rawGet, startWorker } from "./support.mjs";

const site = `${SITE_ID}.${BASE}`;

describe("configuration", () => {
  test("a valid ORIGIN_URL (with a port, a trailing slash) leaves what R2 holds answered from R2", async () => {
    const mf = await startWorker({ bindings: { BASE_DOMAIN: BASE, ORIGIN_URL: "https://origin.example.com:8443/" } });
    try {
      assert.match((await get(mf, site, "/")).text, /<h1>home<\/h1>/);
    } finally {
      await mf.dispose();
    }
  });

  test("a valid BASE_DOMAIN (any case, trailing dot) serves sites", async () => {
    const mf = await startWorker({ bindings: { BASE_DOMAIN: "Pages.Test." } });
    try {
      const got = await get(mf, site, "/");
      assert.equal(got.status, 200);
      assert.match(got.text, /<h1>home<\/h1>/);
    } finally {
      await mf.dispose();
    }
  });

  test("MANIFEST_CACHE_BYTES=0 or MANIFEST_CACHE_ENTRIES=0 keep no manifest in the isolate, and still serve", async () => {
    for (const setting of [{ MANIFEST_CACHE_BYTES: "0" }, { MANIFEST_CACHE_ENTRIES: "0" }]) {
      const mf = await startWorker({ bindings: { BASE_DOMAIN: BASE, ...setting } });
      try {
        for (let i = 0; i < 2; i++) assert.match((await get(mf, site, "/")).text, /<h1>home<\/h1>/);
      } finally {
        await mf.dispose();
      }
    }
  });

  for (const [bindings, named] of [
    [{}, /BASE_DOMAIN is not set/],
    [{ BASE_DOMAIN: "not a domain" }, /BASE_DOMAIN &quot;not a domain&quot; is not a DNS name/],
    [{ BASE_DOMAIN: BASE, ALIAS_TTL_SECONDS: "soon" }, /ALIAS_TTL_SECONDS &quot;soon&quot; must be a number/],
    [{ BASE_DOMAIN: BASE, MANIFEST_CACHE_ENTRIES: "lots" }, /MANIFEST_CACHE_ENTRIES &quot;lots&quot; must be a whole number of at least 0/],
    [{ BASE_DOMAIN: BASE, MANIFEST_CACHE_ENTRIES: "-1" }, /MANIFEST_CACHE_ENTRIES &quot;-1&quot; must be a whole number of at least 0/],
    [{ BASE_DOMAIN: BASE, MANIFEST_CACHE_BYTES: "32MB" }, /MANIFEST_CACHE_BYTES &quot;32MB&quot; must be a whole number of at least 0/],
    [{ BASE_DOMAIN: BASE, MANIFEST_CACHE_BYTES: "1.5" }, /MANIFEST_CACHE_BYTES &quot;1.5&quot; must be a whole number of at least 0/],
    [{ BASE_DOMAIN: BASE, MANIFEST_CACHE_BYTES: "1073741824" }, /MANIFEST_CACHE_BYTES &quot;1073741824&quot; must be at most 134217728 \(a Worker isolate has 128 MB/],
    [{ BASE_DOMAIN: BASE, ANSWER_CACHE_SECONDS: "1.5" }, /ANSWER_CACHE_SECONDS &quot;1.5&quot; must be a whole number of at least 0/],
    [{ BASE_DOMAIN: BASE, ORIGIN_URL: "origin.example.com" }, /ORIGIN_URL &quot;origin.example.com&quot; is not a URL/],
    [{ BASE_DOMAIN: BASE, ORIGIN_URL: "ftp://origin.example.com" }, /ORIGIN_URL .* must be a plain http\(s\) URL/],
    [{ BASE_DOMAIN: BASE, ORIGIN_URL: "https://user:pw@origin.example.com" }, /ORIGIN_URL .* without credentials/],
    [{ BASE_DOMAIN: BASE, ORIGIN_URL: "https://origin.example.com/sites" }, /ORIGIN_URL .* must not have a path/],
    [{ BASE_DOMAIN: BASE, ORIGIN_URL: `https://origin.${BASE}` }, /ORIGIN_URL .* is under BASE_DOMAIN pages.test/],
    [{ BASE_DOMAIN: BASE, SKEW_GRACE_SECONDS: "-1" }, /SKEW_GRACE_SECONDS &quot;-1&quot; must be a number of at least 0/],
    [{ BASE_DOMAIN: BASE, DOMAINS: "www.example.org" }, /DOMAINS must be a KV namespace binding/],
  ]) {
    test(`bad configuration ${JSON.stringify(bindings)} gets a 500 page naming the setting`, async () => {
      const mf = await startWorker({ bindings, fill: false });
      try {
        const got = await get(mf, site, "/");
        assert.equal(got.status, 500);
        assert.equal(got.headers.get("cache-control"), "no-store");
        assert.match(got.text, /The edge worker is misconfigured/);
        assert.match(got.text, named);
      } finally {
        await mf.dispose();
      }
    });
  }
});

describe("serving", () => {
  let mf;
  before(async () => {
    mf = await startWorker({ kv: true });
  });
  after(async () => {
    await mf?.dispose();
  });

  test("`evil<base>` is not under <base> even when an alias `evil` exists", async () => {
    const bucket = await mf.getR2Bucket("SITES");
    await bucket.put("aliases/evil.json", JSON.stringify({ deployment: SITE_ID }));
    assert.equal((await get(mf, `evil.${BASE}`, "/")).status, 200);
    const got = await get(mf, `evil${BASE}`, "/");
    assert.equal(got.status, 404);
    assert.match(got.text, /There is nothing deployed at this address/);
  });

  test("dot segments the URL parser resolves still stay inside the deployment", async () => {
    for (const target of ["/%2e%2e/%2e%2e/deployments/x/manifest.json", "/a/../../blobs/x", "/.%2E/aliases/docs.json"]) {
      const got = await get(mf, site, target);
      assert.ok([400, 404].includes(got.status), `${target}: ${got.status}`);
      assert.doesNotMatch(got.text, /"deployment"|"files"/);
    }
    const inside = await get(mf, site, "/docs/%2e%2e/");
    assert.equal(inside.status, 200);
    assert.match(inside.text, /<h1>home<\/h1>/);
  });

  test("an alias in KV wins over R2, and a malformed KV value falls back to R2", async () => {
    const kv = await mf.getKVNamespace("ALIASES");
    await kv.put("kvonly", JSON.stringify({ deployment: RULES_ID }));
    await kv.put("docs", "garbage");
    const fromKv = await get(mf, `kvonly.${BASE}`, "/");
    assert.equal(fromKv.status, 200);
    assert.equal(fromKv.text, "<h1>rules home</h1>");
    const fallback = await get(mf, `docs.${BASE}`, "/");
    assert.equal(fallback.status, 200);
    assert.match(fallback.text, /<h1>home<\/h1>/);
  });

  test("a moved alias is served from its new deployment once the 1 s alias TTL has passed", async () => {
    const bucket = await mf.getR2Bucket("SITES");
    const point = (id) => bucket.put("aliases/moving.json", JSON.stringify({ deployment: id }));
    await point(SITE_ID);
    assert.match((await get(mf, `moving.${BASE}`, "/")).text, /<h1>home<\/h1>/);
    await point(RULES_ID);
    let text = "";
    for (let attempt = 0; attempt < 50 && text !== "<h1>rules home</h1>"; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      text = (await get(mf, `moving.${BASE}`, "/")).text;
    }
    assert.equal(text, "<h1>rules home</h1>");
  });

  test("a deployment whose blob is missing or has the wrong size gets the 500 page", async () => {
    const bucket = await mf.getR2Bucket("SITES");
    const index = JSON.parse(await (await bucket.get(`deployments/${SITE_ID}/manifest.json`)).text());
    const blob = (byte) => byte.repeat(64);
    const manifest = {
      ...index,
      deployment: "brokenblob23",
      files: {
        "/index.html": { ...index.files["/index.html"], blob: blob("a") },
        "/short.html": { ...index.files["/index.html"], blob: blob("b"), size: 999 },
      },
    };
    await bucket.put(`blobs/${blob("b")}`, "tiny");
    await bucket.put("deployments/brokenblob23/manifest.json", JSON.stringify(manifest));
    for (const target of ["/", "/short"]) {
      const got = await get(mf, `brokenblob23.${BASE}`, target);
      assert.equal(got.status, 500, target);
      assert.match(got.text, /Something went wrong/);
    }
  });

  test("a manifest that is not JSON, or names another deployment, gets the 500 page", async () => {
    const bucket = await mf.getR2Bucket("SITES");
    await bucket.put("deployments/notjsonxxy23/manifest.json", "{");
    await bucket.put(
      "deployments/otheridxxx23/manifest.json",
      await (await bucket.get(`deployments/${SITE_ID}/manifest.json`)).text(),
    );
    for (const id of ["notjsonxxy23", "otheridxxx23"]) {
      assert.equal((await get(mf, `${id}.${BASE}`, "/")).status, 500, id);
    }
  });

  test("a manifest that appears later is served after the negative TTL", async () => {
    const bucket = await mf.getR2Bucket("SITES");
    assert.equal((await get(mf, `latecomerx23.${BASE}`, "/")).status, 404);
    const manifest = JSON.parse(await (await bucket.get(`deployments/${SITE_ID}/manifest.json`)).text());
    await bucket.put("deployments/latecomerx23/manifest.json", JSON.stringify({ ...manifest, deployment: "latecomerx23" }));
    let status = 404;
    for (let attempt = 0; attempt < 50 && status === 404; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await get(mf, `latecomerx23.${BASE}`, "/")).status;
    }
    assert.equal(status, 200);
  });

  test("a large body is streamed whole, a second read comes the same", async () => {
    for (let round = 0; round < 2; round++) {
      const got = await get(mf, site, "/big.bin");
      assert.equal(got.status, 200);
      assert.equal(got.body.length, 256 * 1400);
      assert.equal(got.body[257], 1);
    }
  });
});

describe("custom domains and skew protection", () => {
  let mf;
  before(async () => {
    mf = await startWorker({ kv: true });
  });
  after(async () => {
    await mf?.dispose();
  });

  /** Poll until `check` passes (caches expire after the 1 s TTLs), at most 5 s. */
  async function eventually(host, target, check) {
    let got;
    for (let attempt = 0; attempt < 50; attempt++) {
      got = await get(mf, host, target);
      if (check(got)) return got;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return got;
  }

  test("a domain in KV DOMAINS wins over R2, and a malformed KV value falls back to R2", async () => {
    const kv = await mf.getKVNamespace("DOMAINS");
    await kv.put("kv.example.net", JSON.stringify({ project: "feature-x--docs" }));
    await kv.put("www.example.org", "garbage");
    // feature-x--docs is no project name: a KV value naming it is refused, R2 has nothing.
    assert.equal((await get(mf, "kv.example.net", "/")).status, 404);
    await kv.put("kv2.example.net", JSON.stringify({ project: "docs", created_at: 1 }));
    const fromKv = await get(mf, "kv2.example.net", "/");
    assert.equal(fromKv.status, 200);
    assert.match(fromKv.text, /<h1>home<\/h1>/);
    const fallback = await get(mf, "www.example.org", "/");
    assert.equal(fallback.status, 200);
    assert.match(fallback.text, /<h1>home<\/h1>/);
  });

  test("a domain added to R2 while serving is served after the negative TTL", async () => {
    assert.equal((await get(mf, "late.example.com", "/")).status, 404);
    const bucket = await mf.getR2Bucket("SITES");
    await bucket.put("domains/late.example.com.json", JSON.stringify({ project: "docs", created_at: 1 }));
    const got = await eventually("late.example.com", "/", (r) => r.status === 200);
    assert.equal(got.status, 200);
    assert.match(got.text, /<h1>home<\/h1>/);
  });

  test("the skew grace period is measured from replaced_at against the clock", async () => {
    const bucket = await mf.getR2Bucket("SITES");
    const now = Date.now() / 1000;
    const point = (replacedAt) =>
      bucket.put(
        "aliases/skewed.json",
        JSON.stringify({ deployment: SITE_ID, history: [{ deployment: OLD_ID, replaced_at: replacedAt }] }),
      );
    await point(now - 13 * 3600); // past the default 12 hours
    assert.equal((await get(mf, `skewed.${BASE}`, "/assets/old-7e8f9a.js")).status, 404);
    await point(now - 60);
    const got = await eventually(`skewed.${BASE}`, "/assets/old-7e8f9a.js", (r) => r.status === 200);
    assert.equal(got.status, 200);
    assert.equal(got.text, "console.log('old bundle');\n");
    assert.equal(got.headers.get("cache-control"), "public, max-age=31536000, immutable");
  });

  test("a malformed history is ignored: the alias serves, an old asset is a 404", async () => {
    const bucket = await mf.getR2Bucket("SITES");
    await bucket.put(
      "aliases/odd.json",
      JSON.stringify({ deployment: SITE_ID, history: [{ deployment: "nope", replaced_at: "x" }, 7] }),
    );
    assert.equal((await get(mf, `odd.${BASE}`, "/")).status, 200);
    assert.equal((await get(mf, `odd.${BASE}`, "/assets/old-7e8f9a.js")).status, 404);
  });

  test("SKEW_GRACE_SECONDS=0 turns skew protection off", async () => {
    const off = await startWorker({ bindings: { BASE_DOMAIN: BASE, SKEW_GRACE_SECONDS: "0" } });
    try {
      assert.equal((await get(off, `docs.${BASE}`, "/assets/old-7e8f9a.js")).status, 404);
      assert.equal((await get(off, `docs.${BASE}`, "/assets/app-3f2a1c.js")).status, 200);
    } finally {
      await off.dispose();
    }
  });

  test("X-Forwarded-Host never chooses the site: the URL's host does", async () => {
    const got = await get(mf, `${SITE_ID}.${BASE}`, "/", { headers: { "X-Forwarded-Host": `${RULES_ID}.${BASE}` } });
    assert.match(got.text, /<h1>home<\/h1>/);
  });
});

describe("variants and ranges on the wire", () => {
  let mf;
  /** @type {any} */
  let manifest;
  before(async () => {
    mf = await startWorker();
    manifest = JSON.parse(await readFile(join(STORE, "deployments", SITE_ID, "manifest.json"), "utf8"));
  });
  after(async () => {
    await mf?.dispose();
  });
  const blob = (/** @type {string} */ sha) => readFile(join(STORE, "blobs", sha));

  for (const coding of ["br", "gzip"]) {
    test(`Accept-Encoding: ${coding} gets the stored ${coding} variant byte for byte`, async () => {
      const variant = manifest.files["/guide.html"].encodings[coding];
      const got = await rawGet(mf, site, "/guide", { headers: { "Accept-Encoding": coding } });
      assert.equal(got.status, 200);
      assert.equal(got.headers["content-encoding"], coding);
      assert.equal(got.headers["content-length"], String(variant.size));
      assert.equal(got.headers.vary, "Accept-Encoding");
      // Not compressed a second time by the runtime, not re-encoded by the edge.
      assert.deepEqual(got.body, await blob(variant.blob));
    });
  }

  test("the client's own Accept-Encoding is negotiated, not the header Cloudflare normalizes", async () => {
    // The runtime rewrites Accept-Encoding to "br, gzip"; read naively, that would mean br.
    const none = await rawGet(mf, site, "/guide");
    assert.equal(none.headers["content-encoding"], undefined);
    assert.deepEqual(none.body, await blob(manifest.files["/guide.html"].blob));
    const gzipOnly = await rawGet(mf, site, "/guide", { headers: { "Accept-Encoding": "gzip, deflate" } });
    assert.equal(gzipOnly.headers["content-encoding"], "gzip");
  });

  test("a range of a large file is read from R2 at its offset", async () => {
    const entry = manifest.files["/bundle.js"];
    const whole = await blob(entry.blob);
    const got = await rawGet(mf, site, "/bundle.js", { headers: { Range: "bytes=300000-300099" } });
    assert.equal(got.status, 206);
    assert.equal(got.headers["content-range"], `bytes 300000-300099/${entry.size}`);
    assert.deepEqual(got.body, whole.subarray(300000, 300100));
  });

  test("a manifest with malformed encodings gets the 500 page", async () => {
    const bucket = await mf.getR2Bucket("SITES");
    const entry = manifest.files["/guide.html"];
    for (const [id, encodings] of [
      ["badencodes23", { br: { blob: "nope", size: 1 } }],
      ["badencodes45", { br: { blob: entry.blob, size: -1 } }],
      ["badencodes67", ["br"]],
    ]) {
      const broken = { ...manifest, deployment: id, files: { "/index.html": { ...entry, encodings } } };
      await bucket.put(`deployments/${id}/manifest.json`, JSON.stringify(broken));
      const got = await get(mf, `${id}.${BASE}`, "/");
      assert.equal(got.status, 500, id);
    }
  });
});
