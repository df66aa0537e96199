// The answer cache (src/answercache.js) and the shared alias cache
// (src/aliascache.js), seen from outside: R2 reads counted by the probe binding,
// answers that stay right when R2 fails, keys that keep variants and
// deployments apart, and alias moves that show despite the caches.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { sharedAliasKey } from "../src/aliascache.js";
import { BASE, RULES_ID, SITE_ID, get, pause, startWorker } from "./support.mjs";

const site = `${SITE_ID}.${BASE}`;
const IGNORED = new Set(["date"]);
const same = (a, b) => {
  assert.equal(a.status, b.status);
  const headers = (got) => Object.fromEntries([...got.headers].filter(([name]) => !IGNORED.has(name)));
  assert.deepEqual(headers(a), headers(b));
  assert.ok(a.body.equals(b.body));
};

/**
 * Repeats a request until it is answered without any R2 read (its answer was
 * stored: the Cache API write runs after the answer, in waitUntil).
 * @returns {Promise<Awaited<ReturnType<typeof get>>>}
 */
async function untilStored(mf, probe, host, target, init) {
  for (let attempt = 0; attempt < 50; attempt++) {
    probe.gets.length = 0;
    const got = await get(mf, host, target, init);
    if (probe.gets.length === 0) return got;
    await pause(20);
  }
  assert.fail(`${host}${target} still reads R2 after 50 requests: ${probe.gets.join(", ")}`);
}

describe("answer cache", () => {
  const probe = { gets: [], failing: false };
  let mf;
  before(async () => {
    mf = await startWorker({ probe });
  });
  afterEach(() => {
    probe.failing = false;
  });
  after(async () => {
    await mf?.dispose();
  });

  test("a streamed large body, once answered, is answered the same with R2 unavailable", async () => {
    probe.gets.length = 0;
    const first = await get(mf, site, "/big.bin");
    assert.equal(first.status, 200);
    assert.ok(probe.gets.some((key) => key.startsWith("blobs/")), probe.gets.join());
    same(await untilStored(mf, probe, site, "/big.bin"), first);
    probe.failing = true;
    same(await get(mf, site, "/big.bin"), first);
  });

  test("other Accept-Encoding, Range and If-None-Match requests are not answered from it", async () => {
    await untilStored(mf, probe, site, "/big.bin");
    probe.failing = true;
    for (const headers of [
      { "Accept-Encoding": "gzip" },
      { Range: "bytes=0-9" },
      { "If-None-Match": '"not-this-one"' },
    ]) {
      probe.gets.length = 0;
      const got = await get(mf, site, "/big.bin", { headers });
      assert.equal(got.status, 503, JSON.stringify(headers));
      assert.ok(probe.gets.some((key) => key.startsWith("blobs/")), JSON.stringify(headers));
    }
  });

  test("a moved alias is served from its new deployment after the alias TTL, despite both caches", async () => {
    const bucket = await mf.getR2Bucket("RAW");
    const point = (id) => bucket.put("aliases/moving.json", JSON.stringify({ deployment: id }));
    await point(SITE_ID);
    const before = await untilStored(mf, probe, `moving.${BASE}`, "/");
    assert.match(before.text, /<h1>home<\/h1>/);
    await point(RULES_ID);
    let text = before.text;
    for (let attempt = 0; attempt < 50 && text !== "<h1>rules home</h1>"; attempt++) {
      await pause(100);
      text = (await get(mf, `moving.${BASE}`, "/")).text;
    }
    assert.equal(text, "<h1>rules home</h1>");
  });

  test("answers that vary on a cookie or say no-store are not stored", async () => {
    const bucket = await mf.getR2Bucket("RAW");
    const manifest = JSON.parse(await (await bucket.get(`deployments/${SITE_ID}/manifest.json`)).text());
    const big = manifest.files["/big.bin"];
    const id = "varycookie23";
    manifest.deployment = id;
    manifest.files["/cookie.bin"] = big;
    manifest.files["/private.bin"] = big;
    // As _headers rules: `/cookie.bin  Vary: Cookie` and `/private.bin  Cache-Control: private`.
    const rule = (source, name, value) => ({ source, headers: [[name, value]], detach: [], origin: "test" });
    manifest.routes = {
      redirects: [],
      headers: [rule("/cookie.bin", "Vary", "Cookie"), rule("/private.bin", "Cache-Control", "private, max-age=60")],
    };
    await bucket.put(`deployments/${id}/manifest.json`, JSON.stringify(manifest));
    await untilStored(mf, probe, `${id}.${BASE}`, "/big.bin"); // the same blob, stored under its own path
    for (const target of ["/cookie.bin", "/private.bin"]) {
      for (let round = 0; round < 5; round++) {
        probe.gets.length = 0;
        const got = await get(mf, `${id}.${BASE}`, target);
        assert.equal(got.status, 200);
        assert.match(got.headers.get("vary") ?? got.headers.get("cache-control"), /Cookie|private/);
        assert.ok(probe.gets.some((key) => key.startsWith("blobs/")), `${target}, round ${round}`);
        await pause(20);
      }
    }
  });
});

describe("ANSWER_CACHE_SECONDS=0", () => {
  test("stores no answers", async () => {
    const probe = { gets: [], failing: false };
    const mf = await startWorker({ probe, bindings: { BASE_DOMAIN: BASE, ANSWER_CACHE_SECONDS: "0" } });
    try {
      for (let round = 0; round < 5; round++) {
        probe.gets.length = 0;
        assert.equal((await get(mf, site, "/big.bin")).status, 200);
        assert.ok(probe.gets.some((key) => key.startsWith("blobs/")), `round ${round}`);
        await pause(20);
      }
    } finally {
      await mf.dispose();
    }
  });
});

describe("shared alias cache", () => {
  test("another isolate of the data centre takes an alias answer from the first, not from R2", async () => {
    const probe = { gets: [], failing: false };
    // A long TTL, so that the answer the first isolate read is still valid when the twin asks.
    const mf = await startWorker({ probe, twin: true, bindings: { BASE_DOMAIN: BASE, ALIAS_TTL_SECONDS: "600" } });
    try {
      const twin = await mf.getWorker("twin");
      await (await mf.getR2Bucket("RAW")).put("aliases/shared.json", JSON.stringify({ deployment: SITE_ID }));
      probe.gets.length = 0;
      const first = await get(mf, `shared.${BASE}`, "/data.json");
      assert.equal(first.status, 200);
      assert.ok(probe.gets.includes("aliases/shared.json"), probe.gets.join());
      // The first isolate shares its answer after answering (waitUntil): wait for it to land.
      const caches = await mf.getCaches();
      let shared;
      for (let attempt = 0; attempt < 50 && !shared; attempt++) {
        shared = await caches.default.match(sharedAliasKey("shared"));
        if (!shared) await pause(20);
      }
      assert.ok(shared, "the alias answer was never shared");
      probe.gets.length = 0;
      same(await get(twin, `shared.${BASE}`, "/data.json"), first);
      assert.ok(!probe.gets.includes("aliases/shared.json"), probe.gets.join());
    } finally {
      await mf.dispose();
    }
  });
});
