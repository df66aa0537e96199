// Shared test helpers: a Miniflare running the Worker with a local R2 bucket
// filled from fixtures/store/ (objects exactly as the Python publisher wrote them).

import { readdir, readFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const here = fileURLToPath(new URL(".", import.meta.url));
export const WORKER = join(here, "..", "src", "index.js");
export const STORE = join(here, "fixtures", "store");
export const GOLDEN = JSON.parse(await readFile(join(here, "fixtures", "golden.json"), "utf8"));
export const BASE = GOLDEN.base_domain;
export const SITE_ID = "abcdefghij23";
export const RULES_ID = "bcdefghijk45";
export const OLD_ID = "cdefghijkl67"; // an earlier deployment of `docs` (skew protection)

/** @param {string} dir @returns {AsyncGenerator<string>} */
async function* walk(dir) {
  for (const item of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, item.name);
    if (item.isDirectory()) yield* walk(path);
    else if (!item.name.startsWith(".tmp-")) yield path;
  }
}

/**
 * A running Worker; `bindings` are its vars, `kv` adds the ALIASES and DOMAINS namespaces.
 * @param {{bindings?: Record<string, string>, kv?: boolean, fill?: boolean}} [options]
 */
export async function startWorker({ bindings = { BASE_DOMAIN: BASE }, kv = false, fill = true } = {}) {
  const mf = new Miniflare({
    modules: true,
    scriptPath: WORKER,
    compatibilityDate: "2025-09-01",
    bindings,
    // src/ is plain ES modules (package.json "type": "module"); wrangler bundles them.
    modulesRules: [{ type: "ESModule", include: ["**/*.js"] }],
    r2Buckets: ["SITES"],
    ...(kv ? { kvNamespaces: ["ALIASES", "DOMAINS"] } : {}),
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
