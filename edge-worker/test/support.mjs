// Shared test helpers: a Miniflare running the Worker with a local R2 bucket
// filled from fixtures/store/ (objects exactly as the Python publisher wrote them).

import { readdir, readFile } from "node:fs/promises";
import http from "node:http";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const here = fileURLToPath(new URL(".", import.meta.url));
export const WORKER = join(here, "..", "src", "index.js");
export const HARNESS = join(here, "harness.js");
export const STORE = join(here, "fixtures", "store");
export const GOLDEN = JSON.parse(await readFile(join(here, "fixtures", "golden.json"), "utf8"));
export const BASE = GOLDEN.base_domain;
export const SITE_ID = "abcdefghij23";
export const RULES_ID = "bcdefghijk45";

/** @param {string} dir @returns {AsyncGenerator<string>} */
async function* walk(dir) {
  for (const item of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, item.name);
    if (item.isDirectory()) yield* walk(path);
    else if (!item.name.startsWith(".tmp-")) yield path;
  }
}

/**
 * A running Worker; `bindings` are its vars, `kv` adds the ALIASES namespace,
 * `harness` runs it behind test/harness.js (for `rawGet` with golden requests).
 * @param {{bindings?: Record<string, string>, kv?: boolean, fill?: boolean, harness?: boolean}} [options]
 */
export async function startWorker({ bindings = { BASE_DOMAIN: BASE }, kv = false, fill = true, harness = false } = {}) {
  const mf = new Miniflare({
    modules: true,
    scriptPath: harness ? HARNESS : WORKER,
    modulesRoot: join(here, ".."),
    compatibilityDate: "2025-09-01",
    bindings,
    // src/ is plain ES modules (package.json "type": "module"); wrangler bundles them.
    modulesRules: [{ type: "ESModule", include: ["**/*.js"] }],
    r2Buckets: ["SITES"],
    ...(kv ? { kvNamespaces: ["ALIASES"] } : {}),
  });
  try {
    await mf.ready;
    if (fill) {
      const bucket = await mf.getR2Bucket("SITES");
      for await (const path of walk(STORE)) {
        const key = relative(STORE, path).split(sep).join("/");
        const bytes = await readFile(path);
        // A plain ArrayBuffer: Node's pooled Buffers do not cross Miniflare's proxy.
        await bucket.put(key, bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      }
    }
  } catch (error) {
    await mf.dispose(); // a live workerd would keep the test process running
    throw error;
  }
  return mf;
}

/**
 * One request as a visitor sends it; redirects are not followed. Without an
 * Accept-Encoding of its own it asks for `identity`: workerd (and Cloudflare)
 * would otherwise gzip text on the way out, which serve/ does not do.
 * @param {Miniflare} mf
 * @param {string} host
 * @param {string} target
 * @param {{method?: string, headers?: Record<string, string>}} [init]
 */
export async function get(mf, host, target, { method = "GET", headers = {} } = {}) {
  const response = await mf.dispatchFetch(`http://${host}${target}`, {
    method,
    headers: { "Accept-Encoding": "identity", ...headers },
    redirect: "manual",
  });
  const body = Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, body, text: body.toString("utf8") };
}

/**
 * One request exactly as given, over a plain socket to Miniflare: nothing is
 * added (no Accept-Encoding), nothing decoded, so the body is the bytes sent.
 * With `harness`, an Accept-Encoding in `headers` travels as X-Golden-Accept-Encoding.
 * @param {Miniflare} mf
 * @param {string} host
 * @param {string} target
 * @param {{method?: string, headers?: Record<string, string>, harness?: boolean}} [init]
 * @returns {Promise<{status: number, headers: Record<string, string>, body: Buffer}>}
 */
export async function rawGet(mf, host, target, { method = "GET", headers = {}, harness = false } = {}) {
  const url = await mf.ready;
  /** @type {Record<string, string>} */
  const sent = { Host: host };
  for (const [name, value] of Object.entries(headers)) {
    sent[harness && name.toLowerCase() === "accept-encoding" ? "X-Golden-Accept-Encoding" : name] = value;
  }
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: url.hostname, port: url.port, method, path: target, headers: sent, agent: false },
      (response) => {
        const chunks = [];
        response.on("data", (chunk) => chunks.push(chunk));
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: /** @type {Record<string, string>} */ (response.headers),
            body: Buffer.concat(chunks),
          }),
        );
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.end();
  });
}
