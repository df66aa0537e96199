// ORIGIN_URL (src/origin.js): what R2 lacks or cannot give goes to a real HTTP
// server standing in for the Python edge-origin; what R2 answers for itself
// stays here. The server records each request it receives, to check its shape.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, afterEach, before, describe, test } from "node:test";
import { BASE, SITE_ID, get, startWorker } from "./support.mjs";

const site = `${SITE_ID}.${BASE}`;

/** A loopback origin that answers every request with 299 and records it. */
async function startOrigin() {
  /** @type {{method: string, url: string, headers: import("node:http").IncomingHttpHeaders}[]} */
  const seen = [];
  const server = createServer((request, response) => {
    seen.push({ method: request.method ?? "", url: request.url ?? "", headers: request.headers });
    response.writeHead(299, { "Content-Type": "text/plain", "X-Answered-By": "origin" });
    response.end(request.method === "HEAD" ? undefined : `origin: ${request.headers["x-forwarded-host"]}${request.url}`);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(undefined)));
  const address = /** @type {import("node:net").AddressInfo} */ (server.address());
  return { seen, url: `http://127.0.0.1:${address.port}`, close: () => new Promise((r) => server.close(r)) };
}

describe("ORIGIN_URL", () => {
  const probe = { gets: [], failing: false };
  let origin;
  let mf;
  before(async () => {
    origin = await startOrigin();
    mf = await startWorker({ probe, bindings: { BASE_DOMAIN: BASE, ORIGIN_URL: origin.url } });
    const bucket = await mf.getR2Bucket("RAW");
    const manifest = JSON.parse(await (await bucket.get(`deployments/${SITE_ID}/manifest.json`)).text());
    // A deployment whose manifest reached R2 before one of its blobs did.
    manifest.deployment = "blobnotyet23";
    manifest.files["/late.txt"] = { ...manifest.files["/data.json"], blob: "c".repeat(64) };
    await bucket.put("deployments/blobnotyet23/manifest.json", JSON.stringify(manifest));
  });
  afterEach(() => {
    probe.failing = false;
    origin.seen.length = 0;
  });
  after(async () => {
    await mf?.dispose();
    await origin?.close();
  });

  for (const [why, host, target] of [
    ["an alias without a pointer in R2", `unknown.${BASE}`, "/some/page?x=1&y=%20"],
    ["a deployment id without a manifest in R2", `notyetthere2.${BASE}`, "/"],
    ["an alias pointing at a deployment without a manifest", `ghost.${BASE}`, "/a.css"],
    ["a blob missing from R2", `blobnotyet23.${BASE}`, "/late.txt"],
    ["a custom domain R2 has no mapping for", "elsewhere.example", "/"],
  ]) {
    test(`${why} is answered by the origin, with the visitor's host in X-Forwarded-Host`, async () => {
      const got = await get(mf, host, target, {
        headers: { "X-Forwarded-Host": "spoofed.example", "If-None-Match": '"abc"', Cookie: "a=b" },
      });
      assert.equal(got.status, 299);
      assert.equal(got.headers.get("x-answered-by"), "origin");
      assert.equal(got.text, `origin: ${host}${target}`);
      assert.equal(origin.seen.length, 1);
      const [seen] = origin.seen;
      assert.equal(seen.method, "GET");
      assert.equal(seen.url, target);
      // One value, ours: the origin trusts the last one, so the visitor's must not survive.
      assert.equal(seen.headers["x-forwarded-host"], host);
      assert.equal(seen.headers["x-forwarded-proto"], "http");
      assert.equal(seen.headers["if-none-match"], '"abc"');
      assert.equal(seen.headers.cookie, "a=b");
    });
  }

  test("a HEAD is forwarded as a HEAD", async () => {
    const got = await get(mf, `unknown.${BASE}`, "/x", { method: "HEAD" });
    assert.equal(got.status, 299);
    assert.deepEqual(origin.seen.map((s) => [s.method, s.url]), [["HEAD", "/x"]]);
  });

  test("an R2 outage is answered by the origin", async () => {
    probe.failing = true;
    const got = await get(mf, site, "/big.bin", { headers: { Range: "bytes=0-1" } });
    assert.equal(got.status, 299);
    assert.equal(origin.seen[0].headers["x-forwarded-host"], site);
    assert.equal(origin.seen[0].headers.range, "bytes=0-1");
  });

  for (const [why, host, target, method, status] of [
    ["a site's missing file (its own 404.html)", site, "/missing", "GET", 404],
    ["an alias R2 says was taken down", `down.${BASE}`, "/", "GET", 404],
    ["an IP address", "192.0.2.1", "/", "GET", 404],
    ["a malformed host", `a.b.${BASE}`, "/", "GET", 404],
    ["a bad path", site, "/a%00b", "GET", 400],
    ["a method other than GET and HEAD", `unknown.${BASE}`, "/", "POST", 405],
    ["a broken alias pointer", `broken.${BASE}`, "/", "GET", 500],
  ]) {
    test(`${why} is answered here, not by the origin`, async () => {
      const got = await get(mf, host, target, { method });
      assert.equal(got.status, status);
      assert.equal(origin.seen.length, 0);
    });
  }
});

describe("ORIGIN_URL unreachable", () => {
  test("the visitor gets the answer the Worker gives without an origin", async () => {
    const origin = await startOrigin();
    await origin.close(); // nothing listens on its port any more
    const mf = await startWorker({ bindings: { BASE_DOMAIN: BASE, ORIGIN_URL: origin.url } });
    try {
      const got = await get(mf, `unknown.${BASE}`, "/");
      assert.equal(got.status, 404);
      assert.match(got.text, /There is nothing deployed at this address/);
    } finally {
      await mf.dispose();
    }
  });
});
