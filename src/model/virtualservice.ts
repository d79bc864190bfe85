// Delegate VirtualServices merged into their roots, once per push (Istio's pilot/pkg/model
// virtualservice.go, mergeVirtualServicesIfNeeded). A root's `http[].delegate` route is replaced by
// the delegate's routes, each match merged with the root's (delegate fields win, the root fills the
// rest); a delegate route whose match is not a subset of the root's is left out. Route generators
// read the result from the PushContext and never see `delegate`. Unlike istiod, which only logs at
// debug level, every route left out is reported, naming the root VirtualService and the field.
import type { HTTPMatchRequest, HTTPRoute, Resource, StringMatch } from "../api/resource.js";
import { resolveGatewayName, resolveShortName } from "../api/hosts.js";
import { exportToSet, visibleFrom } from "../registry/model.js";

type VirtualService = Resource<"VirtualService">;

/** An HTTP route with the namespace its hosts and gateway names resolve in (delegates: their own). */
export interface ScopedRoute {
  readonly route: HTTPRoute;
  readonly namespace: string;
}

/** A VirtualService's HTTP routes with its delegates merged in. */
export interface MergedHttpRoutes {
  readonly routes: readonly ScopedRoute[];
  /** Routes left out (missing, hidden or conflicting delegates), each naming the VirtualService. */
  readonly errors: readonly string[];
}

/** Delegate VirtualServices (those without hosts) by `namespace/name`; the first of a name wins. */
export function indexDelegates(vss: readonly VirtualService[]): ReadonlyMap<string, VirtualService> {
  const out = new Map<string, VirtualService>();
  for (const vs of vss) {
    if (vs.spec.hosts?.length) continue;
    const key = `${vs.metadata.namespace}/${vs.metadata.name}`;
    if (!out.has(key)) out.set(key, vs);
  }
  return out;
}

function stringMatchConflict(root: StringMatch | undefined, leaf: StringMatch | undefined): boolean {
  if (!root || !leaf) return false;
  if (root.regex) return !!(leaf.regex || leaf.prefix || leaf.exact);
  if (leaf.regex) return !!(root.regex || root.prefix || root.exact);
  if (root.exact) return !!leaf.prefix || leaf.exact !== root.exact;
  if (root.prefix) {
    if (leaf.prefix) return !leaf.prefix.startsWith(root.prefix);
    if (leaf.exact) return !leaf.exact.startsWith(root.prefix);
  }
  return true;
}

/** Istio's hasConflict: a delegate match must be a subset of the root match. */
function matchConflict(root: HTTPMatchRequest, leaf: HTTPMatchRequest): boolean {
  if (stringMatchConflict(root.uri, leaf.uri)) return true;
  if (stringMatchConflict(root.scheme, leaf.scheme)) return true;
  if (stringMatchConflict(root.method, leaf.method)) return true;
  if (stringMatchConflict(root.authority, leaf.authority)) return true;
  for (const [k, v] of Object.entries(leaf.headers ?? {})) if (stringMatchConflict(root.headers?.[k], v)) return true;
  for (const [k, v] of Object.entries(leaf.withoutHeaders ?? {})) if (stringMatchConflict(root.withoutHeaders?.[k], v)) return true;
  for (const [k, v] of Object.entries(leaf.queryParams ?? {})) if (stringMatchConflict(root.queryParams?.[k], v)) return true;
  if (!!root.ignoreUriCase !== !!leaf.ignoreUriCase) return true;
  if (root.port && leaf.port && root.port !== leaf.port) return true;
  if (root.sourceNamespace && leaf.sourceNamespace !== root.sourceNamespace) return true;
  for (const [k, v] of Object.entries(leaf.sourceLabels ?? {})) {
    const r = root.sourceLabels?.[k];
    if (r !== undefined && r !== v) return true;
  }
  if (root.gateways?.length && leaf.gateways?.length) {
    if (root.gateways.length < leaf.gateways.length) return true;
    const set = new Set(root.gateways);
    if (leaf.gateways.some((g) => !set.has(g))) return true;
  }
  return false;
}

function joinNames(root: string | undefined, leaf: string | undefined): string | undefined {
  if (!leaf) return root;
  return root ? `${root}-${leaf}` : leaf;
}

function mergeMatch(root: HTTPMatchRequest, leaf: HTTPMatchRequest): HTTPMatchRequest {
  const merge = <T>(a: Record<string, T> | undefined, b: Record<string, T> | undefined): Record<string, T> | undefined =>
    a || b ? { ...(a ?? {}), ...(b ?? {}) } : undefined;
  const out: HTTPMatchRequest = { ...leaf };
  out.name = joinNames(root.name, leaf.name);
  out.uri ??= root.uri;
  out.scheme ??= root.scheme;
  out.method ??= root.method;
  out.authority ??= root.authority;
  out.headers = merge(root.headers, leaf.headers);
  out.withoutHeaders = merge(root.withoutHeaders, leaf.withoutHeaders);
  out.queryParams = merge(root.queryParams, leaf.queryParams);
  if (!out.port) out.port = root.port;
  out.sourceLabels = merge(root.sourceLabels, leaf.sourceLabels);
  if (!out.sourceNamespace) out.sourceNamespace = root.sourceNamespace;
  if (!out.gateways?.length) out.gateways = root.gateways;
  if (!out.statPrefix) out.statPrefix = root.statPrefix;
  return out;
}

/** Istio's mergeHTTPMatchRequests: undefined = conflict (the delegate route is dropped). */
function mergeMatches(root: readonly HTTPMatchRequest[] | undefined, leaf: readonly HTTPMatchRequest[] | undefined): HTTPMatchRequest[] | undefined {
  if (!root?.length) return leaf ? [...leaf] : undefined;
  if (!leaf?.length) return [...root];
  const out: HTTPMatchRequest[] = [];
  for (const sub of leaf) {
    let found = false;
    for (const r of root) {
      if (matchConflict(r, sub)) continue;
      out.push(mergeMatch(r, sub));
      found = true;
    }
    if (!found) return undefined;
  }
  return out.length > 0 ? out : undefined;
}

/** Istio's mergeHTTPRoute: the delegate's fields win, the root's fill in what it leaves unset. */
function mergeRoute(root: HTTPRoute, leaf: HTTPRoute): HTTPRoute | undefined {
  const match = mergeMatches(root.match, leaf.match);
  if (match === undefined && (root.match?.length || leaf.match?.length)) return undefined;
  const out: HTTPRoute = { ...leaf, match };
  out.name = joinNames(root.name, leaf.name);
  out.rewrite ??= root.rewrite;
  out.directResponse ??= root.directResponse;
  out.timeout ??= root.timeout;
  out.retries ??= root.retries;
  out.fault ??= root.fault;
  out.mirror ??= root.mirror;
  out.mirrorPercent ??= root.mirrorPercent;
  out.mirrorPercentage ??= root.mirrorPercentage;
  out.corsPolicy ??= root.corsPolicy;
  out.mirrors ??= root.mirrors;
  out.headers ??= root.headers;
  return out;
}

/** Match gateways as `namespace/name`, resolved in the namespace of the VirtualService they were written in. */
function qualifyMatches(matches: readonly HTTPMatchRequest[] | undefined, ns: string): HTTPMatchRequest[] | undefined {
  return matches?.map((m) => (m.gateways?.length ? { ...m, gateways: m.gateways.map((g) => resolveGatewayName(g, ns)) } : m));
}

/**
 * The root route as its delegate's routes inherit it: the names it passes down (match gateways,
 * mirror hosts) resolved in the root's namespace, as Istio resolves every VirtualService's short
 * names before merging; the merged routes resolve the rest in the delegate's namespace.
 */
function qualifyRoot(route: HTTPRoute, ns: string): HTTPRoute {
  const out: HTTPRoute = { ...route, delegate: undefined, match: qualifyMatches(route.match, ns) };
  if (route.mirror) out.mirror = { ...route.mirror, host: resolveShortName(route.mirror.host, ns) };
  if (route.mirrors) out.mirrors = route.mirrors.map((m) => ({ ...m, destination: { ...m.destination, host: resolveShortName(m.destination.host, ns) } }));
  return out;
}

/**
 * The VirtualService's HTTP routes with `delegate` routes replaced by the delegate VirtualService's
 * routes (Istio's VS delegation: a delegate has no hosts, must be exported to the root's namespace,
 * its matches must be subsets of the root route's matches). `delegates` is indexDelegates' map.
 */
export function mergeDelegates(vs: VirtualService, delegates: ReadonlyMap<string, VirtualService>): MergedHttpRoutes {
  const routes: ScopedRoute[] = [];
  const errors: string[] = [];
  const ns = vs.metadata.namespace;
  (vs.spec.http ?? []).forEach((route, i) => {
    const d = route.delegate;
    if (!d) {
      routes.push({ route, namespace: ns });
      return;
    }
    const dns = d.namespace || ns;
    const report = (what: string) => errors.push(`VirtualService ${ns}/${vs.metadata.name}: spec.http[${i}].delegate: delegate VirtualService ${dns}/${d.name ?? ""}${what}`);
    const delegate = delegates.get(`${dns}/${d.name ?? ""}`);
    if (!delegate) {
      report(" not found; route left out");
      return;
    }
    if (!visibleFrom(exportToSet(delegate.spec.exportTo, dns), ns)) {
      report(` is not exported to ${ns}; route left out`);
      return;
    }
    const root = qualifyRoot(route, ns);
    (delegate.spec.http ?? []).forEach((leaf, j) => {
      const which = `: its spec.http[${j}]${leaf.name ? ` (${leaf.name})` : ""}`;
      if (leaf.delegate) {
        report(`${which} delegates again (nested delegation is not supported); left out`);
        return;
      }
      const merged = mergeRoute(root, { ...leaf, match: qualifyMatches(leaf.match, dns) });
      if (merged) routes.push({ route: merged, namespace: dns });
      else report(`${which} conflicts with the root's match; left out`);
    });
  });
  return { routes, errors };
}
