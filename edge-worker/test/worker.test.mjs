// What the golden answers cannot show: configuration errors, the optional KV
// alias index, alias moves, paths the runtime's URL parser rewrites, a store
// that breaks under a deployment, and precompressed variants and ranges as they
// leave the runtime (through Miniflare's emulation of Cloudflare's compression).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { BASE, RULES_ID, SITE_ID, STORE, get, rawGet, startWorker } from "./support.mjs";

const site = `${SITE_ID}.${BASE}`;

describe("configuration", () => {
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

  for (const [bindings, named] of [
    [{}, /BASE_DOMAIN is not set/],
    [{ BASE_DOMAIN: "not a domain" }, /BASE_DOMAIN &quot;not a domain&quot; is not a DNS name/],
    [{ BASE_DOMAIN: BASE, ALIAS_TTL_SECONDS: "soon" }, /ALIAS_TTL_SECONDS &quot;soon&quot; must be a number/],
    [{ BASE_DOMAIN: BASE, MANIFEST_CACHE_ENTRIES: "0" }, /MANIFEST_CACHE_ENTRIES &quot;0&quot; must be a whole number of at least 1/],
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
    const inside = await get(mf, site, "/docs/%2e%2e/index.html");
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
    for (const target of ["/", "/short.html"]) {
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
      const got = await rawGet(mf, site, "/guide.html", { headers: { "Accept-Encoding": coding } });
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
    const none = await rawGet(mf, site, "/guide.html");
    assert.equal(none.headers["content-encoding"], undefined);
    assert.deepEqual(none.body, await blob(manifest.files["/guide.html"].blob));
    const gzipOnly = await rawGet(mf, site, "/guide.html", { headers: { "Accept-Encoding": "gzip, deflate" } });
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
