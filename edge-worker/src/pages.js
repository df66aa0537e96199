// The platform's own pages, byte for byte the same as serve/pages.py: what a
// visitor sees when no deployment answers. Self-contained HTML, no script.

/** @type {Record<number, [string, string]>} status -> [title, message] */
export const PAGES = {
  400: [
    "Bad request",
    "This address cannot be served: its path is malformed. " +
      "Check the link for stray characters such as '..' segments or encoded control " +
      "characters (NUL, tab, line breaks).",
  ],
  404: [
    "Not found",
    "There is nothing deployed at this address. " +
      "Check the spelling of the link, or deploy the site first.",
  ],
  405: ["Method not allowed", "Deployed sites are read-only: only GET and HEAD requests are answered."],
  500: [
    "Something went wrong",
    "This site could not be served because of an error on the platform. " +
      "It has been logged; please try again later.",
  ],
  503: [
    "Temporarily unavailable",
    "The platform's storage did not answer in time. Please try again in a moment.",
  ],
};

/** Python's html.escape(text, quote=True). @param {string} text */
function escapeHtml(text) {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#x27;");
}

/**
 * The page for `status` (the 500 page for a status without its own); `message`
 * replaces the standard text (the configuration-error page uses it).
 * @param {number} status
 * @param {string} [message]
 */
export function renderPage(status, message) {
  const [title, standard] = PAGES[status] ?? PAGES[500];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${status} ${escapeHtml(title)}</title>
<style>
  :root { color-scheme: light dark; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center;
         font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif;
         background: Canvas; color: CanvasText; }
  main { max-width: 32rem; padding: 2rem; }
  .status { font-size: 4rem; font-weight: 700; margin: 0; opacity: .25; }
  h1 { font-size: 1.5rem; margin: 0 0 .5rem; }
  p { margin: 0 0 1rem; opacity: .8; }
  footer { font-size: .8rem; opacity: .5; }
</style>
</head>
<body>
<main>
<p class="status">${status}</p>
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(message ?? standard)}</p>
<footer>deploy-platform</footer>
</main>
</body>
</html>
`;
}
