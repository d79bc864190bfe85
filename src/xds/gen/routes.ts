// RDS: Envoy RouteConfigurations for sidecars and gateways, as Istio's Pilot builds them
// (pilot/pkg/networking/core/httproute.go BuildSidecarOutboundVirtualHosts and gateway.go
// buildGatewayHTTPRouteConfig). Sidecar route configurations are named by port ("9080"): one virtual
// host per HTTP service on that port (VirtualService routes or a default route) plus a catch-all
// (allow_any / block_all). Gateway ones are named `http.PORT` / `https.PORT.NAME.GATEWAY.NS`: one
// virtual host per VirtualService host bound to the gateway. Results are memoized per push with keys
// naming exactly the proxy attributes they depend on, so identical proxies share one object (and one
// encoding).
import type { Resource } from "../../api/resource.js";
import { hostIsSubsetOf, hostsOverlap, MESH_GATEWAY, resolveShortName } from "../../api/hosts.js";
import type { Route, RouteConfiguration, VirtualHost } from "../../envoy/types.js";
import type { Proxy } from "../../model/proxy.js";
import { labelsKey, type GatewayServerRef, type PushContext, type ServiceInstance } from "../../model/push-context.js";
import { resolveGatewayPort } from "./listener-gateway.js";
import { isHTTPProtocol, parseProtocol, type Protocol, type Service, type ServicePortInfo } from "../../registry/model.js";
import { convertHttpRoutes, defaultOutboundRoute, usesSourceLabels, type HashPolicyFn } from "./httproute.js";
import { sortVirtualHostRoutes } from "./route-match.js";
import {
  ALLOW_ANY_VHOST,
  BLOCK_ALL_VHOST,
  byName,
  PASSTHROUGH_CLUSTER,
  gatewayHttpRouteName,
  gatewayHttpsRouteName,
  outboundClusterName,
  outboundRouteName,
} from "./names.js";
import { domainName, DomainSet, hostDomains, serviceDomains } from "./vhosts.js";

export interface RouteOptions {
  /** consistentHash → route hashPolicy (traffic-policy.ts routeHashPolicy, bound to push and proxy). */
  hashPolicy?: HashPolicyFn;
  /**
   * Istio's IgnorePortInHostMatching: true (Istio's default for Envoy proxies) matches Host headers
   * without their port, so domains carry no `:PORT` forms; false (proxyless gRPC) adds `host:PORT`
   * to every domain. Defaults to `proxy.generator !== "grpc"`.
   */
  ignorePortInHostMatching?: boolean;
}

/** Envoy's direct-response body limit Istio raises to 1 MiB (DefaultMaxDirectResponseBodySizeBytes). */
const MAX_DIRECT_RESPONSE_BODY = 1024 * 1024;

/** Istio's Protocol.IsHTTPOrSniffed: routed by an HTTP connection manager, or detected as HTTP. */
function isHTTPOrSniffed(p: Protocol): boolean {
  return isHTTPProtocol(p) || p === "UNSUPPORTED";
}

function ignorePort(proxy: Proxy, opts: RouteOptions): boolean {
  return opts.ignorePortInHostMatching ?? proxy.generator !== "grpc";
}

function optionsKey(proxy: Proxy, opts: RouteOptions): string {
  return `${proxy.generator}/${ignorePort(proxy, opts) ? "ip" : "port"}/${opts.hashPolicy ? "hash" : "-"}`;
}

function routeConfiguration(name: string, virtualHosts: VirtualHost[], ignorePortInHostMatching: boolean): RouteConfiguration {
  const rc: RouteConfiguration = { name };
  if (virtualHosts.length > 0) rc.virtualHosts = virtualHosts;
  rc.validateClusters = { value: false };
  rc.maxDirectResponseBodySizeBytes = { value: MAX_DIRECT_RESPONSE_BODY };
  if (ignorePortInHostMatching) rc.ignorePortInHostMatching = true;
  return rc;
}

function virtualHost(name: string, domains: string[], routes: readonly Route[]): VirtualHost {
  const vh: VirtualHost = { name, domains };
  if (routes.length > 0) vh.routes = routes as Route[]; // shared between virtual hosts, never changed
  vh.includeRequestAttemptCount = true;
  return vh;
}

// ---------------------------------------------------------------------------------------------
// Names

/**
 * Route configuration names a sidecar uses: the ports of visible services whose protocol is HTTP
 * (or undeclared, i.e. sniffed), plus HTTP ports of its Sidecar's egress listeners; sorted numerically.
 */
export function sidecarRouteNames(proxy: Proxy, push: PushContext): string[] {
  const scope = push.sidecarScope(proxy);
  return push.memo(`rds/names/sidecar/${proxy.namespace}/${scope.key}`, () => {
    const ports = new Set<number>();
    for (const svc of push.servicesFor(proxy)) for (const p of svc.ports) if (isHTTPOrSniffed(p.protocol)) ports.add(p.port);
    for (const e of scope.egress) {
      if (e.port?.number && isHTTPProtocol(parseProtocol(e.port.protocol, e.port.name))) ports.add(e.port.number);
    }
    return [...ports].sort((a, b) => a - b).map(outboundRouteName);
  });
}

/**
 * Istio's gatewayRDSRouteName: `http.PORT` for HTTP servers, the HTTPS name for TLS-terminating
 * HTTPS servers. PORT is the port the gateway listens on: a server port that is a port of a service
 * the gateway backs becomes its target port (Service 80 → 8080 gives `http.8080`), as in the LDS.
 */
export function gatewayServerRouteName(ref: GatewayServerRef, instances: readonly ServiceInstance[] = []): string | undefined {
  const s = ref.server;
  const protocol = parseProtocol(s.port.protocol);
  const port = resolveGatewayPort(s.port.number, instances);
  if (isHTTPProtocol(protocol)) return gatewayHttpRouteName(port);
  const mode = s.tls?.mode;
  if (protocol === "HTTPS" && s.tls && mode !== "PASSTHROUGH" && mode !== "AUTO_PASSTHROUGH") {
    const slash = ref.gateway.indexOf("/");
    return gatewayHttpsRouteName(port, s.port.name, ref.gateway.slice(slash + 1), ref.gateway.slice(0, slash));
  }
  return undefined;
}

function gatewayServersByRoute(proxy: Proxy, push: PushContext): ReadonlyMap<string, readonly GatewayServerRef[]> {
  // Keyed by address too: the service ports the gateway backs (by its IPs) resolve the route names.
  return push.memo(`rds/gateway-servers/${labelsKey(proxy.labels)}/${proxy.namespace}/${proxy.ipAddresses.join(",")}`, () => {
    const out = new Map<string, GatewayServerRef[]>();
    const instances = push.serviceInstances(proxy);
    for (const ref of push.gatewayServers(proxy)) {
      const name = gatewayServerRouteName(ref, instances);
      if (!name) continue;
      const list = out.get(name);
      if (list) list.push(ref);
      else out.set(name, [ref]);
    }
    return out;
  });
}

/** Route configuration names of a gateway's HTTP and TLS-terminated HTTPS servers, sorted. */
export function gatewayRouteNames(proxy: Proxy, push: PushContext): string[] {
  return [...gatewayServersByRoute(proxy, push).keys()].sort();
}

// ---------------------------------------------------------------------------------------------
// Sidecar

interface PortService {
  svc: Service;
  port: ServicePortInfo;
}

interface VirtualHostWrapper {
  /** Registry services the routes apply to (domains from the service). */
  services: PortService[];
  /** VirtualService hosts that are not registry services (domains [host, host:PORT]). */
  vsHosts: string[];
  routes: readonly Route[];
}

function resolvedHosts(vs: Resource<"VirtualService">): string[] {
  return (vs.spec.hosts ?? []).map((h) => resolveShortName(h, vs.metadata.namespace));
}

/** Does the proxy depend on its labels for mesh routes (some match uses sourceLabels)? */
function meshRoutesUseLabels(push: PushContext): boolean {
  return push.memo("rds/source-labels", () => usesSourceLabels(push.input.virtualServices));
}

function sidecarKey(proxy: Proxy, push: PushContext, what: string, opts: RouteOptions): string {
  const scope = push.sidecarScope(proxy);
  const labels = meshRoutesUseLabels(push) ? labelsKey(proxy.labels) : "*";
  return `rds/sidecar/${what}/${proxy.namespace}/${proxy.dnsDomain}/${scope.key}/${labels}/${optionsKey(proxy, opts)}`;
}

/**
 * The virtual hosts a sidecar routes on `port` (no catch-all), sorted by name — Istio's
 * BuildSidecarOutboundVirtualHosts. Exported for the proxyless gRPC generator (`host:port` routes).
 */
export function buildSidecarVirtualHosts(proxy: Proxy, push: PushContext, port: number, opts: RouteOptions = {}): readonly VirtualHost[] {
  return push.memo(sidecarKey(proxy, push, `vhosts/${port}`, opts), () => sidecarVirtualHosts(proxy, push, port, opts));
}

function sidecarVirtualHosts(proxy: Proxy, push: PushContext, port: number, opts: RouteOptions): VirtualHost[] {
  const scope = push.sidecarScope(proxy);
  const grpc = proxy.generator === "grpc";
  const withPort = ignorePort(proxy, opts) ? undefined : port;

  // Services with this port (any protocol: a TCP service on the port still claims its host).
  const services = new Map<string, PortService>();
  for (const svc of push.servicesFor(proxy)) {
    const p = svc.ports.find((x) => x.port === port);
    if (p) services.set(svc.hostname, { svc, port: p });
  }

  // VirtualServices bound to the mesh, admitted by the Sidecar's egress hosts.
  let vss = push
    .virtualServices(proxy.namespace, MESH_GATEWAY)
    .filter((vs) => vs.spec.hosts?.length && resolvedHosts(vs).some((h) => scope.allowsHost(vs.metadata.namespace, h)));
  // Istio's selectVirtualServices (skipped on port 80, where VS-only hosts get virtual hosts).
  if (port !== 80) {
    vss = vss.filter((vs) => resolvedHosts(vs).some((h) => services.has(h) || [...services.keys()].some((s) => hostsOverlap(h, s))));
  }

  // Which VirtualService owns each service: an exact host first (oldest), else the most specific wildcard.
  const owner = new Map<string, Resource<"VirtualService">>();
  for (const vs of vss) for (const h of resolvedHosts(vs)) if (!h.startsWith("*") && services.has(h) && !owner.has(h)) owner.set(h, vs);
  const wildcardOwner = new Map<string, { vs: Resource<"VirtualService">; host: string }>();
  for (const vs of vss) {
    for (const h of resolvedHosts(vs)) {
      if (!h.startsWith("*")) continue;
      for (const s of services.keys()) {
        if (owner.has(s) || !hostsOverlap(h, s)) continue;
        const cur = wildcardOwner.get(s);
        if (!cur || h.length > cur.host.length) wildcardOwner.set(s, { vs, host: h });
      }
    }
  }
  const ownerOf = (s: string): Resource<"VirtualService"> | undefined => owner.get(s) ?? wildcardOwner.get(s)?.vs;

  const wrappers: VirtualHostWrapper[] = [];
  for (const vs of vss) {
    const { routes } = convertHttpRoutes(vs, { proxy, push, port, gateway: MESH_GATEWAY, grpc, hashPolicy: opts.hashPolicy });
    if (routes.length === 0) continue;
    const vsHosts: string[] = [];
    const matched: PortService[] = [];
    for (const h of resolvedHosts(vs)) {
      if (!h.startsWith("*")) {
        const ps = services.get(h);
        if (ps) matched.push(ps);
        else vsHosts.push(h);
        continue;
      }
      let found = false;
      for (const [s, ps] of services) {
        if (!hostsOverlap(h, s)) continue;
        found = true;
        if (ownerOf(s) === vs) matched.push(ps);
      }
      if (!found) vsHosts.push(h);
    }
    const httpServices = matched.filter((ps) => isHTTPOrSniffed(ps.port.protocol));
    // Without services on this port, VirtualService-only hosts get virtual hosts on port 80 only (Istio).
    if (httpServices.length === 0 && port !== 80) continue;
    wrappers.push({ services: httpServices, vsHosts, routes });
  }

  const claimed = new Set<string>();
  for (const w of wrappers) for (const ps of w.services) claimed.add(ps.svc.hostname);
  const rest = [...services.values()]
    .filter((ps) => !claimed.has(ps.svc.hostname) && isHTTPOrSniffed(ps.port.protocol))
    .sort((a, b) => (a.svc.hostname < b.svc.hostname ? -1 : a.svc.hostname > b.svc.hostname ? 1 : 0));
  for (const ps of rest) {
    const cluster = outboundClusterName(port, ps.svc.hostname);
    const hash = opts.hashPolicy?.(ps.svc.hostname, port, undefined);
    wrappers.push({ services: [ps], vsHosts: [], routes: [defaultOutboundRoute(cluster, `${ps.svc.hostname}:${port}/*`, hash)] });
  }

  // Virtual hosts, first come first served for names and domains (Envoy rejects duplicates).
  const known = new Set<string>();
  for (const w of wrappers) for (const ps of w.services) known.add(ps.svc.hostname).add(domainName(ps.svc.hostname, port));
  const names = new Set<string>();
  const domains = new DomainSet(known);
  const out: VirtualHost[] = [];
  const add = (host: string, routes: readonly Route[], d: string[], alt: string[]): void => {
    const name = domainName(host, port);
    if (names.has(name)) return;
    names.add(name);
    const kept = domains.take(d, alt);
    if (kept.length > 0) out.push(virtualHost(name, kept, routes));
  };
  for (const w of wrappers) {
    for (const h of w.vsHosts) add(h, w.routes, hostDomains(h, withPort), []);
    for (const ps of w.services) {
      const { domains: d, altHosts } = serviceDomains(ps.svc.hostname, ps.svc.addresses, withPort, proxy.dnsDomain);
      add(ps.svc.hostname, w.routes, d, altHosts);
    }
  }
  return out.sort(byName);
}

/** Istio's buildCatchAllVirtualHost: PassthroughCluster (ALLOW_ANY) or a 502 (REGISTRY_ONLY). */
function catchAllVirtualHost(policy: "ALLOW_ANY" | "REGISTRY_ONLY"): VirtualHost {
  if (policy === "ALLOW_ANY") {
    const route: Route = {
      name: ALLOW_ANY_VHOST,
      match: { prefix: "/" },
      route: { cluster: PASSTHROUGH_CLUSTER, timeout: {}, maxGrpcTimeout: {} },
    };
    return virtualHost(ALLOW_ANY_VHOST, ["*"], [route]);
  }
  const route: Route = { name: BLOCK_ALL_VHOST, match: { prefix: "/" }, directResponse: { status: 502 } };
  return virtualHost(BLOCK_ALL_VHOST, ["*"], [route]);
}

/** Parses a sidecar route name: "9080", or "host:9080" (sniffed service listeners, proxyless gRPC). */
function parseSidecarRouteName(name: string): { port: number; host?: string } | undefined {
  const colon = name.lastIndexOf(":");
  const portText = colon >= 0 ? name.slice(colon + 1) : name;
  if (!/^\d+$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  return colon >= 0 ? { port, host: name.slice(0, colon) } : { port };
}

/**
 * A sidecar's RouteConfiguration for `name` (undefined when no such route exists for the proxy).
 * "PORT": every virtual host on the port plus the catch-all. "HOST:PORT": for Envoy proxies, the one
 * service's virtual host with domains ["*"] (Istio's sniffed service listeners); for proxyless gRPC,
 * every virtual host on the port with `host:port` domains, no catch-all (Istio's grpcgen).
 */
export function buildSidecarRouteConfiguration(proxy: Proxy, push: PushContext, name: string, opts: RouteOptions = {}): RouteConfiguration | undefined {
  const parsed = parseSidecarRouteName(name);
  if (!parsed) return undefined;
  const grpc = proxy.generator === "grpc";
  if (!parsed.host && !grpc && !sidecarRouteNames(proxy, push).includes(name)) return undefined;
  return push.memo(sidecarKey(proxy, push, `rc/${name}`, opts), () => {
    const ignore = ignorePort(proxy, opts);
    const vhosts = buildSidecarVirtualHosts(proxy, push, parsed.port, opts);
    if (grpc) return routeConfiguration(name, [...vhosts], ignore);
    if (parsed.host) {
      // Istio's getVirtualHostsForSniffedServicePort.
      const matching = vhosts.filter((vh) => vh.domains?.some((d) => d === name || d === parsed.host));
      if (matching.length === 0) return undefined;
      const picked = matching.length === 1 ? [{ ...matching[0], domains: ["*"] }] : matching;
      return routeConfiguration(name, picked, ignore);
    }
    const policy = push.sidecarScope(proxy).outboundTrafficPolicy;
    return routeConfiguration(name, [...vhosts, catchAllVirtualHost(policy)], ignore);
  });
}

// ---------------------------------------------------------------------------------------------
// Gateway

/** Istio's host.NamesForNamespace: server hosts usable by a VirtualService in `vsNamespace`. */
function serverHostsFor(hosts: readonly string[], vsNamespace: string, gatewayNamespace: string): string[] {
  const out: string[] = [];
  for (const h of hosts) {
    const slash = h.indexOf("/");
    if (slash < 0) {
      out.push(h);
      continue;
    }
    let ns = h.slice(0, slash);
    if (ns === ".") ns = gatewayNamespace;
    if (ns !== "*" && ns !== vsNamespace) continue;
    out.push(h.slice(slash + 1));
  }
  return out;
}

/** Istio's Names.Intersection: for each overlapping pair, the more specific host. */
function intersectHosts(server: readonly string[], vs: readonly string[]): string[] {
  const out: string[] = [];
  for (const s of server) {
    for (const v of vs) {
      let h: string | undefined;
      if (hostIsSubsetOf(s, v)) h = s;
      else if (hostIsSubsetOf(v, s)) h = v;
      if (h !== undefined && !out.includes(h)) out.push(h);
    }
  }
  return out;
}

interface GatewayVhost {
  host: string;
  vh: VirtualHost;
  routes: Route[];
  /** The route list object it was built from while unmerged (virtual hosts with the same one collapse). */
  source: readonly Route[] | undefined;
}

function gatewayDomains(host: string, port: number, withPort: boolean): string[] {
  return withPort && host !== "*" ? [host, domainName(host, port)] : [host];
}

/**
 * A gateway's RouteConfiguration for `name` (Istio's buildGatewayHTTPRouteConfig); undefined when no
 * server of the gateway uses that route name.
 */
export function buildGatewayRouteConfiguration(proxy: Proxy, push: PushContext, name: string, opts: RouteOptions = {}): RouteConfiguration | undefined {
  const servers = gatewayServersByRoute(proxy, push).get(name);
  if (!servers || servers.length === 0) return undefined;
  const key = `rds/gateway/${name}/${proxy.namespace}/${labelsKey(proxy.labels)}/${optionsKey(proxy, opts)}`;
  return push.memo(key, () => gatewayRouteConfiguration(proxy, push, name, servers, opts));
}

function gatewayRouteConfiguration(
  proxy: Proxy,
  push: PushContext,
  name: string,
  servers: readonly GatewayServerRef[],
  opts: RouteOptions,
): RouteConfiguration {
  const grpc = proxy.generator === "grpc";
  const ignore = ignorePort(proxy, opts);
  const vhosts = new Map<string, GatewayVhost>();
  const routeCache = new Map<string, readonly Route[]>();
  for (const ref of servers) {
    const server = ref.server;
    const port = server.port.number;
    const redirect = !!server.tls?.httpsRedirect;
    for (const vs of push.virtualServices(proxy.namespace, ref.gateway)) {
      const vsNs = vs.metadata.namespace;
      const hosts = intersectHosts(serverHostsFor(server.hosts, vsNs, ref.namespace), resolvedHosts(vs));
      if (hosts.length === 0) continue;
      const cacheKey = `${ref.gateway}|${vsNs}/${vs.metadata.name}|${port}|${server.tls ? "tls" : ""}`;
      let routes = routeCache.get(cacheKey);
      if (!routes) {
        routes = convertHttpRoutes(vs, { proxy, push, port, gateway: ref.gateway, grpc, tls: !!server.tls, hashPolicy: opts.hashPolicy }).routes;
        routeCache.set(cacheKey, routes);
      }
      if (routes.length === 0) continue;
      for (const raw of hosts) {
        const host = raw.toLowerCase();
        const existing = vhosts.get(host);
        if (existing) {
          existing.routes.push(...routes);
          existing.source = undefined;
          if (redirect) existing.vh.requireTls = "ALL";
          continue;
        }
        const vh: VirtualHost = { name: domainName(host, port), domains: gatewayDomains(host, port, !ignore) };
        if (redirect) vh.requireTls = "ALL";
        vhosts.set(host, { host, vh, routes: [...routes], source: routes });
      }
    }
    // httpsRedirect hosts without routes still answer with a redirect to HTTPS.
    if (redirect) {
      for (const raw of server.hosts) {
        const host = raw.slice(raw.indexOf("/") + 1).toLowerCase();
        const existing = vhosts.get(host);
        if (existing) {
          existing.vh.requireTls = "ALL";
          continue;
        }
        const vh: VirtualHost = { name: domainName(host, port), domains: gatewayDomains(host, port, !ignore), requireTls: "ALL" };
        vhosts.set(host, { host, vh, routes: [], source: undefined });
      }
    }
  }

  if (vhosts.size === 0) {
    // Istio's default 404 virtual host: no routes, so Envoy answers 404 NR.
    return routeConfiguration(name, [virtualHost(domainName("blackhole", servers[0].server.port.number), ["*"], [])], ignore);
  }

  // Istio's collapseDuplicateRoutes: hosts sharing one VirtualService's routes become one virtual host.
  const merged: GatewayVhost[] = [];
  for (const host of [...vhosts.keys()].sort()) {
    const v = vhosts.get(host)!;
    const same = v.source && merged.find((m) => m.source === v.source && m.vh.requireTls === v.vh.requireTls);
    if (same) {
      same.vh.domains = [...(same.vh.domains ?? []), ...(v.vh.domains ?? [])];
      continue;
    }
    merged.push(v);
  }
  const out = merged.map((v) => {
    const vh: VirtualHost = { name: v.vh.name, domains: v.vh.domains };
    const routes = sortVirtualHostRoutes(v.routes);
    if (routes.length > 0) vh.routes = routes;
    if (v.vh.requireTls) vh.requireTls = v.vh.requireTls;
    vh.includeRequestAttemptCount = true;
    return vh;
  });
  return routeConfiguration(name, out.sort(byName), ignore);
}

// ---------------------------------------------------------------------------------------------
// Entry point

/**
 * RouteConfigurations for a proxy: `names` (undefined = all of the proxy's routes; names that do
 * not exist are skipped), sidecar or gateway form by proxy type.
 */
export function buildRouteConfigurations(proxy: Proxy, push: PushContext, names?: readonly string[], opts: RouteOptions = {}): RouteConfiguration[] {
  const router = proxy.type === "router";
  const wanted = names ?? (router ? gatewayRouteNames(proxy, push) : sidecarRouteNames(proxy, push));
  const out: RouteConfiguration[] = [];
  const seen = new Set<string>();
  for (const name of wanted) {
    if (seen.has(name)) continue;
    seen.add(name);
    const rc = router ? buildGatewayRouteConfiguration(proxy, push, name, opts) : buildSidecarRouteConfiguration(proxy, push, name, opts);
    if (rc) out.push(rc);
  }
  return out;
}
