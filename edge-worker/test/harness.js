// The Worker behind a test door for the golden answers: the client's
// Accept-Encoding arrives in X-Golden-Accept-Encoding and is handed to the
// Worker where Cloudflare puts it (`request.cf.clientAcceptEncoding`).
//
// Why: Miniflare, like Cloudflare's edge, post-processes a Worker's answer by
// the Accept-Encoding on the wire (compresses text, re-encodes to the client's
// first choice, answers 415 to `identity;q=0`). That is the platform's doing,
// not the Worker's, and serve/ has no such layer; with no Accept-Encoding on
// the wire it stays out of the way, so the bytes compared are the Worker's own.
// test/worker.test.mjs checks the Worker's variants through that layer as well.
import worker from "../src/index.js";

export default {
  /** @param {Request} request @param {any} env @param {any} ctx */
  async fetch(request, env, ctx) {
    const accept = request.headers.get("X-Golden-Accept-Encoding");
    const headers = new Headers(request.headers);
    headers.delete("X-Golden-Accept-Encoding");
    const cf = { .../** @type {any} */ (request).cf, clientAcceptEncoding: accept ?? "" };
    return worker.fetch(new Request(request, { headers, cf }), env, ctx);
  },
};
