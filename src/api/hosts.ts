// Istio host names: short names resolve within the config's namespace; wildcards match suffixes.
export const DOMAIN_SUFFIX = "svc.cluster.local";

/** Istio's ResolveShortnameToFQDN: `reviews` in namespace `default` → `reviews.default.svc.cluster.local`. */
export function resolveShortName(host: string, namespace: string): string {
  if (host === "*" || host.includes(".")) return host;
  return `${host}.${namespace}.${DOMAIN_SUFFIX}`;
}

/** Does `pattern` (possibly `*.example.com` or `*`) match the concrete or wildcard `host`? */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === "*") return true;
  if (pattern.startsWith("*")) {
    const suffix = pattern.slice(1);
    if (host.startsWith("*")) return host.slice(1).endsWith(suffix);
    return host.endsWith(suffix) && host.length > suffix.length;
  }
  if (host.startsWith("*")) return false;
  return pattern === host;
}

/** Two host patterns overlap when some concrete host matches both. */
export function hostsOverlap(a: string, b: string): boolean {
  return hostMatches(a, b) || hostMatches(b, a);
}

/** Istio's host.Name.SubsetOf: every name `a` matches is also matched by `b`. */
export function hostIsSubsetOf(a: string, b: string): boolean {
  if (b.startsWith("*")) return a.slice(a.startsWith("*") ? 1 : 0).endsWith(b.slice(1));
  if (a.startsWith("*")) return false;
  return a === b;
}
