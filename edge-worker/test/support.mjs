// Shared test helpers: a Miniflare running the Worker with a local R2 bucket
// filled from fixtures/store/ (objects exactly as the Python publisher wrote them).
// With `probe`, SITES is the same bucket seen through a wrapped binding
// (fixtures/r2probe.js) that reports every get to the test and can be made to
// fail, as an unavailable R2 does.

import { readdir, readFile } from "node:fs/promises";
import http from "node:http";
import { join, relative, sep } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const here = fileURLToPath(new URL(".", import.meta.url));
export const WORKER = join(here, "..", "src", "index.js");
const PROBE = join(here, "fixtures", "r2probe.js");
export const HARNESS = join(here, "harness.js");
export const STORE = join(here, "fixtures", "store");
export const GOLDEN = JSON.parse(await readFile(join(here, "fixtures", "golden.json"), "utf8"));
export const BASE = GOLDEN.base_domain;
export const SITE_ID = "abcdefghij23";
export const RULES_ID = "bcdefghijk45";
export const OLD_ID = "efghijklmn67"; // an earlier deployment of `docs` (skew protection)

/** @param {string} dir @returns {AsyncGenerator<string>} */
async function* walk(dir) {
  for (const item of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, item.name);
    if (item.isDirectory()) yield* walk(path);
    else if (!item.name.startsWith(".tmp-")) yield path;
  }
}

/**
 * What the probed R2 binding saw: the keys read, in order; `failing` makes every get throw;
 * while `hold` is set, each get waits for that promise before it reads.
 * @typedef {{gets: string[], failing: boolean, hold?: Promise<unknown>}} R2Probe
 */

/**
 * A running Worker; `bindings` are its vars, `kv` adds the ALIASES and DOMAINS namespaces,
 * `probe` reads R2 through an R2Probe; the test then reaches the bucket as
 * `mf.getR2Bucket("RAW")` (else "SITES"). With `twin`, a second copy of the
 * Worker, `mf.getWorker("twin")`, shares the data centre's Cache API and the
 * probed bucket, as two isolates of one data centre do. `harness` runs it behind
 * test/harness.js (for `rawGet` with golden requests). `cache: false` turns the
 * Cache API off (every match misses), so only the isolate's own caches remain;
 * `logs` collects what the Worker writes to the console, line by line.
 * @param {{bindings?: Record<string, string>, kv?: boolean, fill?: boolean, probe?: R2Probe, twin?: boolean, harness?: boolean, cache?: boolean, logs?: string[]}} [options]
 */
export async function startWorker({ bindings = { BASE_DOMAIN: BASE }, kv = false, fill = true, probe, twin = false, harness = false, cache = true, logs } = {}) {
  const worker = {
    name: "edge",
    modules: true,
    scriptPath: harness ? HARNESS : WORKER,
    modulesRoot: join(here, ".."),
    compatibilityDate: "2025-09-01",
    bindings,
    // src/ is plain ES modules (package.json "type": "module"); wrangler bundles them.
    modulesRules: [{ type: "ESModule", include: ["**/*.js"] }],
    ...(kv ? { kvNamespaces: ["ALIASES", "DOMAINS"] } : {}),
    cache,
  };
  const stdio = logs ? { handleRuntimeStdio: collectLines(logs) } : {};
  const mf = new Miniflare(
    probe
      ? {
          ...stdio,
          workers: [
            // The test fills the bucket through RAW; the Worker reads it through the probe.
            { ...worker, r2Buckets: { RAW: "sites" }, wrappedBindings: { SITES: "r2probe" } },
            ...(twin ? [{ ...worker, name: "twin", wrappedBindings: { SITES: "r2probe" } }] : []),
            {
              name: "r2probe",
              modules: true,
              scriptPath: PROBE,
              r2Buckets: { BUCKET: "sites" },
              serviceBindings: {
                async PROBE(request) {
                  probe.gets.push(new URL(request.url).searchParams.get("key") ?? "");
                  await probe.hold;
                  return new Response(null, { status: probe.failing ? 503 : 204 });
                },
              },
            },
          ],
        }
      : { ...stdio, ...worker, r2Buckets: ["SITES"] },
  );
  try {
    await mf.ready;
    if (fill) {
      const bucket = await mf.getR2Bucket(probe ? "RAW" : "SITES");
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
 * A handler for Miniflare's `handleRuntimeStdio`: every line workerd prints goes into `lines`.
 * @param {string[]} lines
 * @returns {(stdout: import("node:stream").Readable, stderr: import("node:stream").Readable) => void}
 */
function collectLines(lines) {
  return (stdout, stderr) => {
    for (const stream of [stdout, stderr]) {
      createInterface({ input: stream }).on("line", (line) => lines.push(line));
    }
  };
}

/**
 * One request as a visitor sends it; redirects are not followed. Without an
 * Accept-Encoding of its own it asks for `identity`: workerd (and Cloudflare)
 * would otherwise gzip text on the way out, which serve/ does not do.
 * @param {Miniflare | {fetch: Miniflare["dispatchFetch"]}} mf
 * @param {string} host
 * @param {string} target
 * @param {{method?: string, headers?: Record<string, string>}} [init]
 */
export async function get(mf, host, target, { method = "GET", headers = {} } = {}) {
  // a Miniflare, or one of its Workers (`mf.getWorker(name)`)
  const send = mf instanceof Miniflare ? mf.dispatchFetch.bind(mf) : mf.fetch.bind(mf);
  const response = await send(`http://${host}${target}`, {
    method,
    headers: { "Accept-Encoding": "identity", ...headers },
    redirect: "manual",
  });
  const body = Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, body, text: body.toString("utf8") };
}

/** @param {number} ms */
export const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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
