// The Worker answers every request of fixtures/golden.json exactly as the Python
// edge-origin (serve/) did against the same store: status, headers and body.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { GOLDEN, rawGet, startWorker } from "./support.mjs";

// Hop-by-hop and framing headers belong to the HTTP server, not the answer.
const IGNORED = new Set(["date", "connection", "keep-alive", "transfer-encoding"]);

let mf;
before(async () => {
  mf = await startWorker({ harness: true });
});
after(async () => {
  await mf?.dispose();
});

// Twice: the second round finds most GET answers in the answer cache (answercache.js),
// which must give them back byte for byte.
for (const round of ["", " (again, answer cache warm)"]) for (const answer of GOLDEN.answers) {
  const label = `${answer.method} ${answer.host}${answer.target} ${JSON.stringify(answer.headers)} -> ${answer.status}`;
  test(`same answer as serve/${round}: ${label}`, async () => {
    const got = await rawGet(mf, answer.host, answer.target, {
      method: answer.method,
      headers: answer.headers,
      harness: true,
    });
    assert.equal(got.status, answer.status);
    const expected = Object.fromEntries(
      Object.entries(answer.response_headers).filter(([name]) => !IGNORED.has(name)),
    );
    const actual = Object.fromEntries(Object.entries(got.headers).filter(([name]) => !IGNORED.has(name)));
    assert.deepEqual(actual, expected);
    assert.equal(got.body.toString("base64"), answer.body_base64);
  });
}
