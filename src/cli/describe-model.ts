// `tsmesh describe`'s content, istioctl x describe's for a local mesh: from the effective config
// (istiod's /debug/configz) and the workloads of the running mesh, what applies to one workload or
// service — the services (ServiceEntries selecting it), DestinationRules and the subsets it matches,
// VirtualServices and their routes that reach it, Gateways exposing it, Peer/RequestAuthentications
// and AuthorizationPolicies, the effective mTLS mode — with istioctl's wording, and the common
// mistakes explained (routes to subsets no DestinationRule defines, a workload no subset matches,
// TLS modes that contradict the peer's mTLS mode, missing telemetry labels).
import type { AnyResource, HTTPMatchRequest, HTTPRoute, Resource, StringMatch } from "../api/resource.js";
import { dumpedClusters, dumpedListeners, field, list, str } from "./config-dump.js";

export interface DescribeWorkload {
  name: string;
  namespace: string;
  role: "sidecar" | "router";
  address: string;
  labels: Record<string, string>;
}

export interface DescribeInput {
  resources: readonly AnyResource[];
  workloads: readonly DescribeWorkload[];
  rootNamespace: string;
}

type Kind<K extends AnyResource["kind"]> = Resource<K>;
const SEP = "--------------------";
const sp = (n: number) => " ".repeat(n);

function ofKind<K extends AnyResource["kind"]>(rs: readonly AnyResource[], kind: K): Kind<K>[] {
  return rs.filter((r) => r.kind === kind) as unknown as Kind<K>[];
}

const nsOf = (r: { metadata: { namespace?: string } }) => r.metadata.namespace ?? "default";

/** istioctl's kname: NAME in the namespace described, NAME.NAMESPACE elsewhere. */
const kname = (r: { metadata: { name?: string; namespace?: string } }, ns: string) => (nsOf(r) === ns ? (r.metadata.name ?? "") : `${r.metadata.name ?? ""}.${nsOf(r)}`);

/** Istio's ResolveShortnameToFQDN: a name without a dot is a service of the config's namespace. */
export function fqdn(host: string, namespace: string): string {
  return host.includes(".") || host.includes("*") ? host : `${host}.${namespace}.svc.cluster.local`;
}

export function selects(selector: Readonly<Record<string, string>> | undefined, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

/** Services (ServiceEntries with a workloadSelector) a workload serves. */
export function servicesOf(w: DescribeWorkload, rs: readonly AnyResource[]): Kind<"ServiceEntry">[] {
  return ofKind(rs, "ServiceEntry").filter((se) => nsOf(se) === w.namespace && se.spec.workloadSelector?.labels && selects(se.spec.workloadSelector.labels, w.labels));
}

/** The DestinationRule for a host: the host's namespace first, then the root namespace (Istio's lookup order, exportTo aside). */
function destinationRuleFor(host: string, ns: string, input: DescribeInput): Kind<"DestinationRule"> | undefined {
  const drs = ofKind(input.resources, "DestinationRule").filter((dr) => fqdn(dr.spec.host ?? "", nsOf(dr)) === host);
  return drs.find((dr) => nsOf(dr) === ns) ?? drs.find((dr) => nsOf(dr) === input.rootNamespace) ?? drs[0];
}

function renderStringMatch(m: StringMatch | undefined): string {
  if (!m) return "";
  const x = m as { exact?: string; prefix?: string; regex?: string };
  if (x.exact !== undefined) return x.exact;
  if (x.prefix !== undefined) return `${x.prefix}*`;
  return x.regex !== undefined ? `regex ${x.regex}` : "";
}

export function renderMatch(m: HTTPMatchRequest): string {
  let s = "Match: ";
  if (m.uri) s += renderStringMatch(m.uri) + (m.ignoreUriCase ? " uncased" : "");
  const headers = Object.entries(m.headers ?? {});
  if (headers.length) s += ` when headers are ${headers.map(([k, v]) => `${k}=${renderStringMatch(v)}`).join("; ")}`;
  return s.trim();
}

const renderMatches = (ms: readonly HTTPMatchRequest[] | undefined) => (ms?.length ? ms.map(renderMatch).join(", ") : "everything");

interface SubsetView {
  matching: string[];
  nonMatching: string[];
}

function subsetView(dr: Kind<"DestinationRule"> | undefined, labels: readonly Readonly<Record<string, string>>[]): SubsetView {
  const v: SubsetView = { matching: [], nonMatching: [] };
  for (const s of dr?.spec.subsets ?? []) (labels.some((l) => selects(s.labels, l)) ? v.matching : v.nonMatching).push(s.name ?? "");
  return v;
}

/** istioctl's printDestinationRule. */
function printDestinationRule(lines: string[], dr: Kind<"DestinationRule">, v: SubsetView, ns: string, forService: boolean): void {
  lines.push(`DestinationRule: ${kname(dr, ns)} for "${dr.spec.host}"`);
  if ((dr.spec.subsets ?? []).length > 0) {
    if (v.matching.length === 0) lines.push(`${sp(3)}WARNING ${forService ? "NO WORKLOAD OF THE SERVICE MATCHES" : "POD DOES NOT MATCH"} ANY SUBSETS.  (Non matching subsets ${v.nonMatching.join(",")})`);
    else {
      lines.push(`${sp(3)}Matching subsets: ${v.matching.join(",")}`);
      if (v.nonMatching.length) lines.push(`${sp(6)}(Non-matching subsets ${v.nonMatching.join(",")})`);
    }
  }
  const tp = dr.spec.trafficPolicy;
  if (!tp) {
    lines.push(`${sp(3)}No Traffic Policy`);
    return;
  }
  if (tp.tls?.mode) lines.push(`${sp(3)}Traffic Policy TLS Mode: ${tp.tls.mode}`);
  const extra = [tp.loadBalancer && "load balancer", tp.connectionPool && "connection pool", tp.outlierDetection && "outlier detection"].filter(Boolean);
  if (extra.length) lines.push(`${sp(3)}Policies: ${extra.join("/")}`);
  if (tp.portLevelSettings?.length) {
    lines.push(`${sp(3)}Port Level Settings:`);
    for (const ps of tp.portLevelSettings) {
      lines.push(`${sp(4)}${ps.port?.number ?? ""}:`);
      if (ps.tls?.mode) lines.push(`${sp(6)}TLS Mode: ${ps.tls.mode}`);
    }
  }
}

/** istioctl's httpRouteMatchSvc: whether a route reaches the service (and these subsets), and the facts to print. */
function httpRouteFacts(vs: Kind<"VirtualService">, route: HTTPRoute, svcHost: string, v: SubsetView, dr: Kind<"DestinationRule"> | undefined, ns: string): { match: boolean; facts: string[] } {
  const facts: string[] = [];
  const notes: string[] = [];
  let match = false;
  for (const d of route.route ?? []) {
    const host = d.destination?.host ?? "";
    const subset = d.destination?.subset ?? "";
    if (fqdn(host, nsOf(vs)) === svcHost) {
      if (subset) {
        if (v.nonMatching.includes(subset)) {
          notes.push(`Route to non-matching subset ${subset} for (${renderMatches(route.match)})`);
          continue;
        }
        if (!v.matching.includes(subset)) {
          notes.push(dr ? `Warning: Route to UNKNOWN subset ${subset}; check DestinationRule ${kname(dr, ns)}` : `Warning: Route to subset ${subset} but NO DESTINATION RULE defining subsets!`);
          continue;
        }
      }
      match = true;
      const weight = d.weight ?? ((route.route ?? []).length === 1 ? 100 : 0);
      if (weight > 0) facts.push(`Route to host "${host}"${subset ? ` subset "${subset}"` : ""} with weight ${weight}%`);
    } else if (!subset) facts.push(`Route to host "${host}" with weight ${d.weight ?? 100}%`);
    else facts.push(`Route to ${host} with invalid config`);
  }
  if (match) {
    const req: string[] = [];
    if (route.fault) req.push(`Fault injection ${[route.fault.delay && "delay", route.fault.abort && "abort"].filter(Boolean).join(" and ")}`);
    for (const m of route.match ?? []) req.push(renderMatch(m));
    if (req.length) facts.push(req.join(", "));
  }
  return { match, facts: match ? facts : [...facts, ...notes] };
}

/** istioctl's printVirtualService. */
function printVirtualService(lines: string[], vs: Kind<"VirtualService">, svcHost: string, v: SubsetView, dr: Kind<"DestinationRule"> | undefined, ns: string, indent = 0): void {
  lines.push(`${sp(indent)}VirtualService: ${kname(vs, ns)}`);
  const http = vs.spec.http ?? [];
  const tcp = vs.spec.tcp ?? [];
  let matches = 0;
  let facts = 0;
  const mismatches: string[] = [];
  for (const r of http) {
    const f = httpRouteFacts(vs, r, svcHost, v, dr, ns);
    if (f.match) {
      matches++;
      for (const x of f.facts) lines.push(`${sp(indent + 3)}${x}`);
      facts += f.facts.length;
    } else mismatches.push(...f.facts);
  }
  for (const r of tcp) if ((r.route ?? []).some((d) => fqdn(d.destination?.host ?? "", nsOf(vs)) === svcHost)) matches++;
  if (matches === 0) {
    if (http.length) lines.push(`${sp(indent + 3)}WARNING: No destinations match pod subsets (checked ${http.length} HTTP routes)`);
    if (tcp.length) lines.push(`${sp(indent + 3)}WARNING: No destinations match pod subsets (checked ${tcp.length} TCP routes)`);
    for (const m of mismatches) lines.push(`${sp(indent + 6)}${m}`);
    return;
  }
  const possible = http.length + (vs.spec.tls ?? []).length + tcp.length;
  if (matches < possible) {
    lines.push(`${sp(indent + 3)}${possible - matches} additional destination(s) that will not reach this pod`);
    if (facts === 0) for (const m of mismatches) lines.push(`${sp(indent + 6)}${m}`);
    return;
  }
  if (facts === 0) {
    if (http.length) lines.push(`${sp(indent + 3)}${http.length} HTTP route(s)`);
    if (tcp.length) lines.push(`${sp(indent + 3)}${tcp.length} TCP route(s)`);
  }
}

/** VirtualServices for the mesh (sidecars) or bound to a gateway that route to a host. */
function virtualServicesTo(svcHost: string, rs: readonly AnyResource[], gateway: string | "mesh"): Kind<"VirtualService">[] {
  return ofKind(rs, "VirtualService").filter((vs) => {
    const gws = vs.spec.gateways ?? [];
    const bound = gateway === "mesh" ? gws.length === 0 || gws.includes("mesh") : gws.some((g) => (g.includes("/") ? g : `${nsOf(vs)}/${g}`) === gateway);
    if (!bound) return false;
    const hosts = (vs.spec.hosts ?? []).map((h) => fqdn(h, nsOf(vs)));
    const routesTo = [...(vs.spec.http ?? []), ...(vs.spec.tcp ?? []), ...(vs.spec.tls ?? [])].some((r) => (r.route ?? []).some((d) => fqdn(d.destination?.host ?? "", nsOf(vs)) === svcHost));
    return gateway === "mesh" ? hosts.includes(svcHost) : routesTo;
  });
}

type MtlsMode = "STRICT" | "PERMISSIVE" | "DISABLE";

/** The PeerAuthentications that apply, most specific first, and the effective mode (Istio's: workload > namespace > mesh, UNSET inherits). */
export function effectivePeerAuthentication(w: DescribeWorkload, input: DescribeInput): { mode: MtlsMode; ports: Record<string, MtlsMode>; applied: Kind<"PeerAuthentication">[] } {
  const pas = ofKind(input.resources, "PeerAuthentication");
  const workload = pas.filter((p) => nsOf(p) === w.namespace && p.spec.selector?.matchLabels && selects(p.spec.selector.matchLabels, w.labels));
  const namespace = pas.filter((p) => nsOf(p) === w.namespace && !p.spec.selector?.matchLabels);
  const mesh = pas.filter((p) => nsOf(p) === input.rootNamespace && !p.spec.selector?.matchLabels);
  const chain = [workload[0], namespace[0], mesh[0]].filter((p): p is Kind<"PeerAuthentication"> => !!p);
  let mode: MtlsMode = "PERMISSIVE";
  for (const p of [...chain].reverse()) {
    const m = p.spec.mtls?.mode;
    if (m && m !== "UNSET") mode = m as MtlsMode;
  }
  const ports: Record<string, MtlsMode> = {};
  for (const [port, s] of Object.entries(workload[0]?.spec.portLevelMtls ?? {})) if (s.mode && s.mode !== "UNSET") ports[port] = s.mode as MtlsMode;
  return { mode, ports, applied: chain };
}

function appliesTo(p: { metadata: { namespace?: string }; spec: { selector?: { matchLabels?: Record<string, string> } } }, w: DescribeWorkload, root: string): boolean {
  const ns = nsOf(p);
  return (ns === w.namespace || ns === root) && selects(p.spec.selector?.matchLabels, w.labels);
}

/** Gateways selecting a router workload, or exposing a service: the gateway workloads and their URLs. */
function printExposure(lines: string[], svcHost: string, v: SubsetView, dr: Kind<"DestinationRule"> | undefined, ns: string, input: DescribeInput): void {
  for (const gw of ofKind(input.resources, "Gateway")) {
    const key = `${nsOf(gw)}/${gw.metadata.name}`;
    const vss = virtualServicesTo(svcHost, input.resources, key);
    if (vss.length === 0) continue;
    const routers = input.workloads.filter((x) => x.role === "router" && selects(gw.spec.selector, x.labels));
    lines.push("");
    if (routers.length === 0) lines.push(`WARNING: Gateway ${kname(gw, ns)} selects no gateway workload (selector ${JSON.stringify(gw.spec.selector ?? {})}): nothing serves it`);
    for (const r of routers) {
      for (const s of gw.spec.servers ?? []) {
        const p = (s.port?.protocol ?? "").toUpperCase();
        const scheme = p === "HTTP" || p === "HTTP2" || p === "GRPC" ? "http" : p === "HTTPS" ? "https" : "tcp";
        lines.push(`Exposed on Ingress Gateway ${scheme}://${r.address}:${s.port?.number ?? ""}`);
      }
    }
    lines.push(`Gateway: ${kname(gw, ns)}`);
    for (const vs of vss) printVirtualService(lines, vs, svcHost, v, dr, ns);
  }
}

/** A gateway workload: the Gateways that select it, their servers, and the VirtualServices bound to each. */
function printGatewaysServed(lines: string[], w: DescribeWorkload, ns: string, input: DescribeInput): void {
  const gws = ofKind(input.resources, "Gateway").filter((g) => g.spec.selector && selects(g.spec.selector, w.labels));
  if (gws.length === 0) lines.push(`WARNING: no Gateway selects ${w.name} (labels ${JSON.stringify(w.labels)}): it serves nothing`);
  for (const gw of gws) {
    const key = `${nsOf(gw)}/${gw.metadata.name}`;
    lines.push(SEP);
    lines.push(`Gateway: ${kname(gw, ns)}`);
    for (const srv of gw.spec.servers ?? []) lines.push(`${sp(3)}Server: ${srv.port?.name ?? ""} ${srv.port?.number ?? ""}/${srv.port?.protocol ?? ""} hosts ${(srv.hosts ?? []).join(",")}${srv.tls?.mode ? ` TLS ${srv.tls.mode}` : ""}`);
    const bound = ofKind(input.resources, "VirtualService").filter((vs) => (vs.spec.gateways ?? []).some((g) => (g.includes("/") ? g : `${nsOf(vs)}/${g}`) === key));
    if (bound.length === 0) lines.push(`${sp(3)}WARNING: no VirtualService is bound to this Gateway: it accepts connections and routes nothing (404)`);
    for (const vs of bound) {
      lines.push(`${sp(3)}VirtualService: ${kname(vs, ns)} (hosts ${(vs.spec.hosts ?? []).join(",")})`);
      for (const r of vs.spec.http ?? []) {
        const dests = (r.route ?? []).map((d) => `${d.destination?.host ?? ""}${d.destination?.subset ? ` subset ${d.destination.subset}` : ""}${d.weight !== undefined ? ` ${d.weight}%` : ""}`);
        lines.push(`${sp(6)}${renderMatches(r.match)} → ${dests.join(", ") || (r.redirect ? "redirect" : r.directResponse ? "direct response" : "-")}`);
      }
    }
  }
}

/** The block for one service a workload (or the service's workloads) serves. */
function printService(lines: string[], se: Kind<"ServiceEntry">, labels: readonly Readonly<Record<string, string>>[], ns: string, input: DescribeInput, forService: boolean, modeOf?: (port: number) => MtlsMode): void {
  const host = fqdn(se.spec.hosts?.[0] ?? "", nsOf(se));
  lines.push(`Service: ${kname(se, ns)}`);
  for (const p of se.spec.ports ?? []) lines.push(`${sp(3)}Port: ${p.name ?? ""} ${p.number}/${p.protocol ?? "auto-detect"} targets pod port ${p.targetPort ?? p.number}`);
  const dr = destinationRuleFor(host, nsOf(se), input);
  const v = subsetView(dr, labels);
  if (dr) {
    printDestinationRule(lines, dr, v, ns, forService);
    const tls = dr.spec.trafficPolicy?.tls?.mode;
    for (const p of se.spec.ports ?? []) {
      const mode = modeOf?.(p.number ?? 0);
      if (tls === "DISABLE" && mode === "STRICT") lines.push(`${sp(3)}WARNING: TLS mode DISABLE, but port ${p.number} accepts only mutual TLS (PeerAuthentication STRICT): its clients' requests will be refused`);
      if ((tls === "SIMPLE" || tls === "MUTUAL") && mode !== "DISABLE") lines.push(`${sp(3)}WARNING: TLS mode ${tls} sends the client's own TLS to a sidecar that expects Istio mTLS; use ISTIO_MUTUAL (or no tls) for mesh workloads`);
    }
  }
  const vss = virtualServicesTo(host, input.resources, "mesh");
  for (const vs of vss) printVirtualService(lines, vs, host, v, dr, ns);
  // Routes to subsets of this host that no VirtualService names in the mesh: explained once per VS above.
  printExposure(lines, host, v, dr, ns, input);
}

/** What the workload's proxy holds, as describe reads it from its /config_dump. */
export interface ProxyView {
  /** Cluster names. */
  clusters: Set<string>;
  /** RBAC policy names in the HTTP filters of its inbound listeners (istioctl's "RBAC policies"), by port. */
  rbacPolicies: Map<number, string[]>;
}

const HCM = "envoy.filters.network.http_connection_manager";
const RBAC = "envoy.filters.http.rbac";

/** The proxy's clusters and inbound RBAC policies from its config dump. */
export function proxyView(dump: unknown, address: string): ProxyView {
  const rbacPolicies = new Map<number, string[]>();
  for (const l of dumpedListeners(dump)) {
    const sa = field(field(l.resource, "address"), "socket_address");
    const inbound = l.name === "virtualInbound" || str(sa, "address") === address;
    if (!inbound) continue;
    for (const fc of [...list(l.resource, "filter_chains"), field(l.resource, "default_filter_chain")]) {
      const dp = field(field(fc, "filter_chain_match"), "destination_port");
      const port = typeof dp === "number" ? dp : Number(field(dp, "value") ?? field(sa, "port_value") ?? 0);
      for (const f of list(fc, "filters")) {
        if (str(f, "name") !== HCM) continue;
        for (const h of list(field(f, "typed_config"), "http_filters")) {
          if (str(h, "name") !== RBAC) continue;
          const tc = field(h, "typed_config");
          const names = [...Object.keys((field(field(tc, "rules"), "policies") as object | undefined) ?? {}), ...Object.keys((field(field(tc, "shadow_rules"), "policies") as object | undefined) ?? {})];
          rbacPolicies.set(port, [...new Set([...(rbacPolicies.get(port) ?? []), ...names])].sort());
        }
      }
    }
  }
  return { clusters: new Set(dumpedClusters(dump).map((c) => c.name)), rbacPolicies };
}

export function describeWorkload(w: DescribeWorkload, input: DescribeInput, proxy?: ProxyView): string[] {
  const ns = "default";
  const lines: string[] = [];
  const pod = { metadata: { name: w.name, namespace: w.namespace } };
  const services = servicesOf(w, input.resources);
  lines.push(`Pod: ${kname(pod, ns)}`);
  lines.push(`${sp(3)}Pod Revision: default`);
  const ports = services.flatMap((se) => (se.spec.ports ?? []).map((p) => `${p.targetPort ?? p.number} (${w.labels.app ?? w.name})`));
  lines.push(ports.length ? `${sp(3)}Pod Ports: ${[...new Set(ports)].join(", ")}, 15090 (istio-proxy)` : `${sp(3)}Pod does not expose ports`);
  if (!w.labels.app && !w.labels["app.kubernetes.io/name"]) lines.push("Suggestion: add required service name label for Istio telemetry. Use 'app' or 'app.kubernetes.io/name'.");
  if (!w.labels.version && !w.labels["app.kubernetes.io/version"]) lines.push("Suggestion: add required service revision label for Istio telemetry. Use 'version' or 'app.kubernetes.io/version'.");
  const pa = effectivePeerAuthentication(w, input);
  if (w.role === "sidecar" && services.length === 0) lines.push(`WARNING: no ServiceEntry in ${w.namespace} selects ${w.name} (labels ${JSON.stringify(w.labels)}): it receives no mesh traffic`);
  for (const se of services) {
    lines.push(SEP);
    printService(lines, se, [w.labels], ns, input, false, (port) => pa.ports[String(port)] ?? pa.mode);
    // What the proxy itself holds for the service's ports (istioctl reads these from the pod's Envoy).
    const ports = se.spec.ports ?? [];
    for (const p of proxy && w.role === "sidecar" ? ports : []) {
      const port = p.number ?? 0;
      if (!proxy!.clusters.has(`inbound|${port}||`)) lines.push(`WARNING: the proxy has no inbound cluster for port ${port} (inbound|${port}||): its config has not arrived (see tsmesh proxy-status ${w.name})`);
      const rbac = proxy!.rbacPolicies.get(port) ?? proxy!.rbacPolicies.get(0);
      // istioctl prefixes the port only when the service has several.
      if (rbac?.length) lines.push(`${ports.length > 1 ? `${port} ` : ""}RBAC policies: ${rbac.join(", ")}`);
    }
  }
  if (w.role === "router") printGatewaysServed(lines, w, ns, input);
  lines.push(SEP);
  lines.push("Effective PeerAuthentication:");
  lines.push(`${sp(3)}Workload mTLS mode: ${pa.mode}`);
  if (Object.keys(pa.ports).length) {
    lines.push(`${sp(3)}Port Level mTLS mode:`);
    for (const [p, m] of Object.entries(pa.ports)) lines.push(`${sp(6)}${p}: ${m}`);
  }
  const printConfigs = (kind: string, rs: readonly { metadata: { name?: string; namespace?: string } }[]) => {
    if (rs.length === 0) return;
    lines.push(`Applied ${kind}:`);
    lines.push(`${sp(3)}${rs.map((r) => kname(r, ns)).join(", ")}`);
  };
  printConfigs("PeerAuthentication", pa.applied);
  printConfigs("RequestAuthentication", ofKind(input.resources, "RequestAuthentication").filter((r) => appliesTo(r, w, input.rootNamespace)));
  printConfigs("AuthorizationPolicy", ofKind(input.resources, "AuthorizationPolicy").filter((r) => appliesTo(r, w, input.rootNamespace)));
  return lines;
}

/** istioctl x describe svc: the service, its DestinationRule and routes, and each of its workloads. */
export function describeService(se: Kind<"ServiceEntry">, input: DescribeInput): string[] {
  const ns = "default";
  const members = input.workloads.filter((w) => nsOf(se) === w.namespace && se.spec.workloadSelector?.labels && selects(se.spec.workloadSelector.labels, w.labels));
  const lines: string[] = [];
  printService(lines, se, members.map((m) => m.labels), ns, input, true);
  lines.push(SEP);
  if (!se.spec.workloadSelector?.labels) lines.push(`Service "${kname(se, ns)}" has no workloadSelector: its endpoints are listed in it (or resolved by DNS), not mesh workloads.`);
  else if (members.length === 0) lines.push(`Service "${kname(se, ns)}" has no pods.`);
  else lines.push(`Workloads: ${members.map((m) => `${kname({ metadata: m }, ns)} (${m.address}, ${Object.entries(m.labels).map(([k, v]) => `${k}=${v}`).join(",")})`).join(", ")}`);
  return lines;
}
