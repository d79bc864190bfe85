// Absolute-form request targets (RFC 9112 §3.2.2: `GET http://host:port/path`), what HTTP_PROXY
// clients send to local mode's explicit-proxy listener. Split by hand: the HCM does it per request
// (new URL() cost about 3% of a sidecar's CPU) and the listener per connection.

/**
 * `http://host[:port][/path][?query]` → authority and origin-form path (userinfo dropped, host
 * lower-cased as URL parsing would); undefined when it is not an absolute http(s) URI.
 */
export function splitAbsoluteForm(target: string): { scheme: "http" | "https"; authority: string; path: string } | undefined {
  const sep = target.indexOf("://");
  if (sep <= 0) return undefined;
  const s = target.slice(0, sep).toLowerCase();
  if (s !== "http" && s !== "https") return undefined;
  const scheme: "http" | "https" = s;
  const start = sep + 3;
  let end = start;
  while (end < target.length) {
    const c = target.charCodeAt(end);
    if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */) break;
    end++;
  }
  let authority = target.slice(start, end);
  const at = authority.lastIndexOf("@");
  if (at >= 0) authority = authority.slice(at + 1);
  if (authority === "") return undefined;
  let path = target.slice(end);
  const hash = path.indexOf("#");
  if (hash >= 0) path = path.slice(0, hash);
  if (path === "" || path.charCodeAt(0) === 63) path = "/" + path;
  return { scheme, authority: authority.toLowerCase(), path };
}

/** `host:port` with the scheme's default port filled in (IPv6 literals keep their brackets). */
export function authorityWithPort(authority: string, scheme: "http" | "https"): { authority: string; port: number } {
  const m = /:(\d+)$/.exec(authority);
  if (m && !authority.endsWith("]")) return { authority, port: Number(m[1]) };
  const port = scheme === "https" ? 443 : 80;
  return { authority: `${authority}:${port}`, port };
}
