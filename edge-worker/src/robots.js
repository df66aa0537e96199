// Which sites search engines are asked to leave out (mirrors serve/robots.py).
//
// Only a project's production host is meant to be found: a branch preview
// (`<branch>--<project>.D`) and an immutable deployment URL (`<id>.D`) carry
// `X-Robots-Tag: noindex` on every answer their deployment gives (files, 304s,
// redirects, 404 pages), and a site's header rules cannot remove it there.
// The platform's pages for requests that reach no site do not need it (4xx/5xx,
// and their HTML already says noindex).

/** @typedef {import("./hosts.js").Site} Site */

export const ROBOTS_HEADER = "X-Robots-Tag";
const PREVIEW_SEPARATOR = "--";

/**
 * True for a production host only; a new kind of site must be decided here.
 * @param {Site} site
 */
export function isIndexable(site) {
  switch (site.kind) {
    case "deployment":
      return false;
    case "alias":
      return !site.name.includes(PREVIEW_SEPARATOR);
    case "domain":
      return true; // a custom domain always shows its project's production
    default:
      throw new Error(`no robots decision for sites of kind ${JSON.stringify(site.kind)}`);
  }
}

/**
 * The robots header every answer of `site`'s deployment carries (none for production).
 * @param {Site} site
 * @returns {Array<[string, string]>}
 */
export function robotsHeaders(site) {
  return isIndexable(site) ? [] : [[ROBOTS_HEADER, "noindex"]];
}
