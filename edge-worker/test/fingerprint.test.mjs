// The fingerprint rule, against the cases the Python tests read too.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { isFingerprinted } from "../src/fingerprint.js";

const cases = JSON.parse(
  readFileSync(new URL("../../tests/fixtures/shared/fingerprint_cases.json", import.meta.url), "utf8"),
).cases;

for (const [path, expected] of Object.entries(cases)) {
  test(`${path} is ${expected ? "" : "not "}fingerprinted`, () => {
    assert.equal(isFingerprinted(path), expected);
  });
}
