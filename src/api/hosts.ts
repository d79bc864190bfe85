// Istio host and gateway names: short names resolve within the config's namespace; wildcards match
// suffixes.
export const DOMAIN_SUFFIX = "svc.cluster.local";
/** The gateway name that stands for every sidecar in the mesh. */
export const MESH_GATEWAY = "mesh";

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

/**
 * Istio's resolveGatewayName: `name` → `ns/name`, `./name` → `ns/name`, legacy
 * `name.ns.svc.cluster.local` → `ns/name`; "mesh" and `ns/name` stay.
 */
export function resolveGatewayName(g: string, namespace: string): string {
  if (g === MESH_GATEWAY) return g;
  const slash = g.indexOf("/");
  if (slash >= 0) return g.slice(0, slash) === "." ? `${namespace}/${g.slice(slash + 1)}` : g;
  const dot = g.indexOf(".");
  if (dot < 0) return `${namespace}/${g}`;
  const rest = g.slice(dot + 1);
  const dot2 = rest.indexOf(".");
  return `${dot2 < 0 ? rest : rest.slice(0, dot2)}/${g.slice(0, dot)}`;
}
