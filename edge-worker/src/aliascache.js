// Alias answers shared by all isolates of a data centre through the Cache API.
//
// Each isolate keeps an alias answer for ALIAS_TTL_SECONDS (lookup.js); without
// sharing, every isolate reads the pointer from KV or R2 once per TTL. Here the
// first isolate to read it stores the answer *with the moment it expires*, and
// every other isolate uses it only until that moment and then keeps it no longer
// either. So sharing adds no staleness: an alias move is still visible within
// one TTL of the read that saw the old pointer, on every isolate.
//
// The entry's Cache-Control max-age only bounds how long the data centre keeps
// it (whole seconds, rounded up); the `until` inside decides whether it is used.
// Unknown aliases ("no pointer") are shared for NEGATIVE_TTL_SECONDS the same way,
// which keeps a scan of made-up names from costing one R2 read per isolate.

/**
 * The Cache API key of an alias answer: a synthetic URL that never reaches a network.
 * @param {string} name
 */
export const sharedAliasKey = (name) => `https://deploy-platform-edge.internal/aliases/${name}`;

/**
 * @typedef {{ match(key: string): Promise<Response | undefined>, put(key: string, r: Response): Promise<void> }} EdgeCache
 * @typedef {{ waitUntil(promise: Promise<unknown>): void }} WaitUntil
 * @typedef {{target: string | null | undefined, until: number}} AliasEntry
 */

export class SharedAliasCache {
  /** @param {EdgeCache | undefined} cache  caches.default; undefined: no sharing */
  constructor(cache) {
    this.cache = cache;
  }

  /**
   * The shared answer for `name` if it is still valid at `now` (milliseconds).
   * @param {string} name
   * @param {number} now
   * @returns {Promise<AliasEntry | null>}
   */
  async match(name, now) {
    if (!this.cache) return null;
    let hit;
    try {
      hit = await this.cache.match(sharedAliasKey(name));
    } catch (error) {
      console.warn(`Cache API match for alias ${name} failed (${error}); reading the pointer`);
      return null;
    }
    if (!hit) return null;
    let stored;
    try {
      stored = await hit.json();
    } catch {
      return null;
    }
    const until = stored?.until;
    const target = stored?.known === false ? undefined : stored?.deployment;
    if (typeof until !== "number" || until <= now) return null;
    if (target !== undefined && target !== null && typeof target !== "string") return null;
    return { target, until };
  }

  /**
   * Share `entry` (read at `now`) until its `until`; kept alive by `ctx` when given.
   * @param {string} name
   * @param {AliasEntry} entry
   * @param {number} now
   * @param {WaitUntil} [ctx]
   */
  put(name, entry, now, ctx) {
    const ms = entry.until - now;
    if (!this.cache || ms <= 0) return;
    const body = JSON.stringify({ deployment: entry.target ?? null, known: entry.target !== undefined, until: entry.until });
    const stored = new Response(body, {
      headers: { "Content-Type": "application/json", "Cache-Control": `public, max-age=${Math.ceil(ms / 1000)}` },
    });
    const writing = this.cache.put(sharedAliasKey(name), stored).catch((error) => {
      console.warn(`Cache API put for alias ${name} failed: ${error}`);
    });
    ctx?.waitUntil(writing);
  }
}
