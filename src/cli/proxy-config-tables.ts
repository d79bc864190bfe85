// istioctl proxy-config's filters and table rows (istioctl/pkg/writer/envoy/configdump and
// writer/envoy/clusters): which clusters, listeners, routes and endpoints of a proxy's config dump a
// query selects, and the columns istioctl prints for each. Pure functions over the dump's JSON, so
// they are table-tested without a proxy.
import { BLACKHOLE_CLUSTER, PASSTHROUGH_CLUSTER, parseClusterName } from "../xds/gen/names.js";
import { field, istioConfigOf, list, num, str, type DumpedResource, type Json } from "./config-dump.js";

// ---- clusters ----

export interface ClusterFilter {
  fqdn?: string;
  port?: number;
  subset?: string;
  direction?: string;
}

/** istioctl's ClusterFilter.Verify: substring tests on the cluster name. */
export function clusterMatches(name: string, f: ClusterFilter): boolean {
  if (f.fqdn && !name.includes(f.fqdn)) return false;
  if (f.direction && !name.includes(f.direction)) return false;
  if (f.subset && !name.includes(f.subset)) return false;
  if (f.port && !name.includes(`|${f.port}|`)) return false;
  return true;
}

/** Sorted as istioctl sorts: by FQDN, subset, port, direction (plain names sort as FQDN). */
export function sortClusters<T extends { name: string }>(cs: readonly T[]): T[] {
  const key = (n: string) => {
    const p = parseClusterName(n);
    return p ? { host: p.host, subset: p.subset, port: p.port, dir: p.direction as string } : { host: n, subset: "", port: 0, dir: "" };
  };
  return [...cs].sort((a, b) => {
    const x = key(a.name);
    const y = key(b.name);
    return x.host !== y.host ? (x.host < y.host ? -1 : 1) : x.subset !== y.subset ? (x.subset < y.subset ? -1 : 1) : x.port !== y.port ? x.port - y.port : x.dir < y.dir ? -1 : x.dir > y.dir ? 1 : 0;
  });
}

export const CLUSTER_HEAD = ["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION RULE"];

export function clusterRow(c: Json): string[] {
  const name = str(c, "name");
  // Proto JSON leaves out the default enum value: no type is STATIC (so is a custom cluster_type's).
  const type = str(c, "type") || "STATIC";
  const dr = istioConfigOf(c);
  const p = parseClusterName(name);
  if (p) return [p.host, String(p.port), p.subset || "-", p.direction, type, dr];
  return [name, "-", "-", "-", type, dr];
}

// ---- listeners ----

export interface ListenerFilter {
  address?: string;
  port?: number;
  type?: string;
}

function socketAddress(a: unknown): { address: string; port: number } {
  const sa = field(a, "socket_address");
  if (sa) return { address: str(sa, "address"), port: num(sa, "port_value") };
  const pipe = field(a, "pipe");
  return { address: pipe ? str(pipe, "path") : "", port: 0 };
}

function listenerAddresses(l: unknown): string[] {
  return [socketAddress(field(l, "address")).address, ...list(l, "additional_addresses").map((x) => socketAddress(field(x, "address")).address)];
}

const listenerPort = (l: unknown) => socketAddress(field(l, "address")).port;

function filterChains(l: unknown): unknown[] {
  const d = field(l, "default_filter_chain");
  return [...list(l, "filter_chains"), ...(d ? [d] : [])];
}

const HCM = "envoy.filters.network.http_connection_manager";
const TCP_PROXY = "envoy.filters.network.tcp_proxy";

function tcpCluster(f: unknown): string {
  return str(field(f, "typed_config"), "cluster");
}

/** HTTP, TCP, HTTP+TCP or UNKNOWN, by the network filters of its chains (a blackhole TCP proxy does not count). */
export function listenerType(l: unknown): string {
  let http = 0;
  let tcp = 0;
  for (const fc of filterChains(l)) {
    for (const f of list(fc, "filters")) {
      const n = str(f, "name");
      if (n === HCM) http++;
      else if (n === TCP_PROXY && tcpCluster(f) !== BLACKHOLE_CLUSTER) tcp++;
    }
  }
  if (http > 0) return tcp === 0 ? "HTTP" : "HTTP+TCP";
  return tcp > 0 ? "TCP" : "UNKNOWN";
}

export function listenerMatches(l: unknown, f: ListenerFilter): boolean {
  if (f.address && !listenerAddresses(l).some((a) => a.toLowerCase() === f.address!.toLowerCase())) return false;
  if (f.port && listenerPort(l) !== f.port) return false;
  if (f.type && listenerType(l).toLowerCase() !== f.type.toLowerCase()) return false;
  return true;
}

export function sortListeners<T extends { resource: Json }>(ls: readonly T[]): T[] {
  return [...ls].sort((a, b) => {
    const [pa, pb] = [listenerPort(a.resource), listenerPort(b.resource)];
    if (pa !== pb) return pa - pb;
    const [aa, ab] = [socketAddress(field(a.resource, "address")).address, socketAddress(field(b.resource, "address")).address];
    if (aa !== ab) return aa < ab ? -1 : 1;
    const [ta, tb] = [listenerType(a.resource), listenerType(b.resource)];
    return ta < tb ? -1 : ta > tb ? 1 : 0;
  });
}

const ALPN_NAMES: Array<[string, string[]]> = [
  ["App: HTTP TLS", ["http/1.0", "http/1.1", "h2c", "istio-http/1.0", "istio-http/1.1", "istio-h2"]],
  ["App: Istio HTTP Plain", ["istio", "istio-http/1.0", "istio-http/1.1", "istio-h2"]],
  ["App: TCP TLS", ["istio-peer-exchange", "istio"]],
  ["App: HTTP", ["http/1.0", "http/1.1", "h2c"]],
];

/** istioctl's MATCH column for a filter chain. */
export function chainMatch(m: unknown): string {
  const out: string[] = [];
  const sni = list(m, "server_names").map(String);
  if (sni.length) out.push(`SNI: ${sni.join(",")}`);
  const transport = str(m, "transport_protocol");
  if (transport) out.push(`Trans: ${transport}`);
  const alpn = list(m, "application_protocols").map(String);
  if (alpn.length) out.push(ALPN_NAMES.find(([, p]) => p.length === alpn.length && p.every((x, i) => x === alpn[i]))?.[0] ?? `App: ${alpn.join(",")}`);
  const dp = field(m, "destination_port");
  const port = dp === undefined ? "" : `:${typeof dp === "object" ? num(dp, "value") : Number(dp)}`;
  const ranges = list(m, "prefix_ranges").map((r) => {
    const len = field(r, "prefix_len");
    return `${str(r, "address_prefix")}/${typeof len === "object" ? num(len, "value") : Number(len ?? 0)}`;
  });
  if (ranges.length) out.push(`Addr: ${ranges.join(",")}${port}`);
  else if (port) out.push(`Addr: *${port}`);
  return out.length ? out.join("; ") : "ALL";
}

function describeRouteMatch(m: unknown): string {
  const c: string[] = [];
  if (str(m, "prefix")) c.push(`${str(m, "prefix")}*`);
  if (str(m, "path_separated_prefix")) c.push(`PathPrefix:${str(m, "path_separated_prefix")}`);
  if (str(m, "path")) c.push(str(m, "path"));
  const re = field(m, "safe_regex");
  if (re) c.push(`regex ${str(re, "regex")}`);
  return c.join(" ");
}

/** A route configuration inlined in a listener, as istioctl describes it. */
function describeInlineRoutes(rc: unknown): string {
  const vhs = list(rc, "virtual_hosts");
  if (vhs.length === 1) {
    const vh = vhs[0];
    const domains = list(vh, "domains");
    const routes = list(vh, "routes");
    if (domains.length === 1 && domains[0] === "*" && routes.length === 1 && str(field(routes[0], "match"), "prefix") === "/") {
      const cl = str(field(routes[0], "route"), "cluster");
      if (cl) return cl.includes("Cluster") ? cl : `Cluster: ${cl}`;
    }
  }
  return `Inline Route: ${vhs
    .map((vh) => {
      const domains = list(vh, "domains").map(String);
      const routes = list(vh, "routes")
        .map((r) => describeRouteMatch(field(r, "match")))
        .join(", ");
      return domains.length === 1 && domains[0] === "*" ? routes : `${domains.join("/")} ${routes}`;
    })
    .join("; ")}`;
}

/** istioctl's DESTINATION column: the route config or cluster a chain's filters send to. */
export function chainDestination(fc: unknown): string {
  for (const f of list(fc, "filters")) {
    const n = str(f, "name");
    const tc = field(f, "typed_config");
    if (n === HCM) {
      const rc = field(tc, "route_config");
      if (rc) return describeInlineRoutes(rc);
      const rds = str(field(tc, "rds"), "route_config_name");
      return rds ? `Route: ${rds}` : "HTTP";
    }
    if (n === TCP_PROXY) {
      const cl = tcpCluster(f);
      if (cl === BLACKHOLE_CLUSTER) continue;
      if (cl) return cl.includes("Cluster") ? cl : `Cluster: ${cl}`;
      // Weighted clusters: the first, as the one-line summary.
      const w = list(field(tc, "weighted_clusters"), "clusters").map((x) => str(x, "name"));
      if (w.length) return `Cluster: ${w.join(",")}`;
    }
  }
  return "Non-HTTP/Non-TCP";
}

export const LISTENER_HEAD = ["ADDRESSES", "PORT", "MATCH", "DESTINATION"];

/** One row per filter chain (istioctl's verbose listener summary, its default). */
export function listenerRows(l: Json): string[][] {
  const addresses = listenerAddresses(l).join(",");
  const port = String(listenerPort(l));
  const rows = filterChains(l).map((fc) => ({ match: chainMatch(field(fc, "filter_chain_match")), destination: chainDestination(fc) }));
  rows.sort((a, b) => (a.destination > b.destination ? -1 : a.destination < b.destination ? 1 : 0));
  return rows.map((r) => [addresses, port, r.match, r.destination]);
}

// ---- routes ----

export interface RouteFilter {
  name?: string;
}

export const ROUTE_HEAD = ["NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE"];

/** istioctl's DOMAINS column: one domain as is; several without ports, short names winning, two shown. */
export function describeDomains(domains: readonly string[]): string {
  if (domains.length <= 1) return domains[0] ?? "";
  const noPort = domains.filter((d) => !d.includes(":") || (d.split(":").length > 3 && d.endsWith("]")));
  const set = new Set(noPort);
  const kept = noPort.filter((d) => {
    const full = d.endsWith(".svc.cluster.local") ? d.slice(0, -".svc.cluster.local".length) : d;
    const partial = d.endsWith(".svc") ? d.slice(0, -".svc".length) : d;
    return !((full !== d && set.has(full)) || (partial !== d && set.has(partial)));
  });
  return kept.length > 2 ? `${kept.slice(0, 2).join(", ")} + ${kept.length - 2} more...` : kept.join(", ");
}

export function routeRows(rc: Json): string[][] {
  const name = str(rc, "name");
  const rows: string[][] = [];
  for (const vh of list(rc, "virtual_hosts")) {
    const domains = describeDomains(list(vh, "domains").map(String));
    const routes = list(vh, "routes");
    for (const r of routes) {
      if (str(field(r, "route"), "cluster") === PASSTHROUGH_CLUSTER) continue;
      rows.push([name, str(vh, "name"), domains, describeRouteMatch(field(r, "match")), istioConfigOf(r)]);
    }
    if (routes.length === 0) rows.push([name, str(vh, "name"), domains, "/*", "404"]);
  }
  return rows;
}

// ---- endpoints (the proxy's /clusters?format=json) ----

export interface EndpointFilter {
  address?: string;
  port?: number;
  cluster?: string;
  status?: string;
}

export interface EndpointRow {
  address: string;
  port: number;
  cluster: string;
  status: string;
  outlierFailed: boolean;
}

/** Envoy's HealthStatus names (its /clusters JSON may carry the number or the name). */
const HEALTH = ["UNKNOWN", "HEALTHY", "UNHEALTHY", "DRAINING", "TIMEOUT", "DEGRADED"];

export function endpointRows(clusters: unknown, f: EndpointFilter): EndpointRow[] {
  const out: EndpointRow[] = [];
  for (const c of list(clusters, "cluster_statuses")) {
    const cluster = str(c, "name");
    for (const h of list(c, "host_statuses")) {
      const { address, port } = socketAddress(field(h, "address"));
      const hs = field(h, "health_status");
      const eds = field(hs, "eds_health_status");
      const status = typeof eds === "number" ? (HEALTH[eds] ?? String(eds)) : typeof eds === "string" ? eds : "UNKNOWN";
      const row = { address, port, cluster, status, outlierFailed: field(hs, "failed_outlier_check") === true };
      if (f.address && address.toLowerCase() !== f.address.toLowerCase()) continue;
      if (f.port && port !== f.port) continue;
      if (f.cluster && cluster.toLowerCase() !== f.cluster.toLowerCase()) continue;
      if (f.status && status.toLowerCase() !== f.status.toLowerCase()) continue;
      out.push(row);
    }
  }
  return out.sort((a, b) => (a.address !== b.address ? (a.address < b.address ? -1 : 1) : a.port !== b.port ? a.port - b.port : a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0));
}

export const ENDPOINT_HEAD = ["ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER"];

export function endpointCells(r: EndpointRow): string[] {
  return [r.port ? `${r.address}:${r.port}` : r.address, r.status, r.outlierFailed ? "FAILED" : "OK", r.cluster];
}

/** The resources a filter keeps, in istioctl's order. */
export function selectClusters(cs: readonly DumpedResource[], f: ClusterFilter): DumpedResource[] {
  return sortClusters(cs.filter((c) => clusterMatches(c.name, f)));
}

export function selectListeners(ls: readonly DumpedResource[], f: ListenerFilter): DumpedResource[] {
  return sortListeners(ls.filter((l) => listenerMatches(l.resource, f)));
}

export function selectRoutes(rs: readonly DumpedResource[], f: RouteFilter): DumpedResource[] {
  return rs.filter((r) => !f.name || r.name === f.name);
}
