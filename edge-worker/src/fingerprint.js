// Which URL paths name fingerprinted (content-hashed) build assets; the same
// rule as deploy_platform/contracts/fingerprint.py (read its docstring for why): a hash
// part follows `-` or `.` in the file name and ends at the next `.`, and is
// either hex (6-64, a digit and a letter) or exactly 8 base64url characters
// with a digit and a capital. Both test against
// tests/fixtures/shared/fingerprint_cases.json.

const NEXT_STATIC = "/_next/static/";
const HEX = /^[0-9a-f]{6,64}$/;
const BASE64URL_8 = /^[0-9A-Za-z_-]{8}$/;

/**
 * @param {string} path a decoded URL path, `/assets/app-3f2a1c.js`
 * @returns {boolean}
 */
export function isFingerprinted(path) {
  if (path.startsWith(NEXT_STATIC) && !path.endsWith("/")) return true;
  const name = path.slice(path.lastIndexOf("/") + 1);
  for (let start = 0; start < name.length; start++) {
    if (name[start] !== "-" && name[start] !== ".") continue;
    const end = name.indexOf(".", start + 1);
    if (end !== -1 && isHash(name.slice(start + 1, end))) return true;
  }
  return false;
}

/** @param {string} part */
function isHash(part) {
  if (!/[0-9]/.test(part)) return false;
  if (HEX.test(part)) return /[a-f]/.test(part);
  return BASE64URL_8.test(part) && /[A-Z]/.test(part);
}
