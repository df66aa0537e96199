// wrangler.toml names every resource {customer}-{project}-{environment}-{component},
// commented examples included, each in the environment of its section.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";

const CONVENTION = /^[a-z0-9]+-[a-z0-9]+-(prod|staging|dev)-[a-z0-9]+$/;

test("wrangler.toml names resources by the convention, per environment", async () => {
  const text = await readFile(new URL("../wrangler.toml", import.meta.url), "utf8");
  let environment = "prod";
  const names = [];
  for (const line of text.split("\n")) {
    const section = line.match(/^\[env\.([a-z]+)\]/);
    if (section) environment = section[1];
    for (const match of line.matchAll(/(?:name|bucket_name)\s*=\s*"([^"]+)"|acme-[a-z0-9]+-[a-z0-9]+-[a-z0-9]+/g)) {
      const name = match[1] ?? match[0];
      if (name.includes(".")) continue; // a host name (pages.acme.example), not a resource
      names.push(name);
      assert.match(name, CONVENTION, `${name} in: ${line.trim()}`);
      assert.equal(name.split("-")[2], environment, `${name} is in the ${environment} section`);
    }
  }
  for (const component of ["edge", "assets", "aliases", "domains", "origin"]) {
    assert.ok(names.some((name) => name.endsWith(`-${component}`)), `no ${component} named`);
  }
});
