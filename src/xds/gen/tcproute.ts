// VirtualService `tcp[]` and `tls[]` routes as tcp_proxy filter chains (Istio's
// pilot/pkg/networking/core/tls.go, networkfilter.go and the TCP/TLS half of gateway.go):
// static predicates (port, gateways, sourceLabels, sourceNamespace) are evaluated here, runtime ones
// (SNI, destination subnets) become FilterChainMatch fields, and route destinations become a
// tcp_proxy `cluster` or `weightedClusters`.
import type { Resource, TCPRoute, TLSRoute } from "../../api/resource.js";
import { hostsOverlap, resolveGatewayName, resolveShortName } from "../../api/hosts.js";
import { parseDuration } from "../../api/validation/common.js";
import { struct } from "../../envoy/protos.js";
import type { Duration, Metadata, NetworkFilter } from "../../envoy/types.js";
import type { MergedDestinationRule, PushContext } from "../../model/push-context.js";
import { labelsMatch, type Protocol, type Service } from "../../registry/model.js";
import { tcpProxyFilter, type ChainOptions, type WeightedCluster } from "./filters.js";
import { duration } from "../../envoy/protos.js";
import { outboundClusterName } from "./names.js";
import type { TcpTelemetry } from "./telemetry/index.js";

export type VirtualService = Resource<"VirtualService">;
export type TcpMatch = NonNullable<TCPRoute["match"]>[number];
export type TlsMatch = NonNullable<TLSRoute["match"]>[number];
export type RouteDestination = NonNullable<TCPRoute["route"]>[number];

/** What the static predicates of a match are evaluated against. */
export interface L4Source {
  /** Labels of the proxy's workload (sourceLabels). */
  labels: Readonly<Record<string, string>>;
  /** Namespace of the proxy (sourceNamespace). */
  namespace: string;
  /** Gateways the proxy implements: {"mesh"} for sidecars, {"ns/name"} for a gateway server. */
  gateways: ReadonlySet<string>;
  /** The listener (or gateway server) port. */
  port: number;
}

/**
 * Istio's matchTCP / matchTLS: a missing match matches; otherwise port, gateways, sourceLabels and
 * sourceNamespace must all hold (sniHosts and destinationSubnets are runtime predicates).
 */
export function matchL4(match: TcpMatch | TlsMatch | undefined, vsNamespace: string, src: L4Source): boolean {
  if (!match) return true;
  const gws = match.gateways ?? [];
  const gatewayMatch = gws.length === 0 || gws.some((g) => src.gateways.has(resolveGatewayName(g, vsNamespace)));
  const labelMatch = labelsMatch(match.sourceLabels, src.labels);
  const portMatch = !match.port || match.port === src.port;
  const nsMatch = !match.sourceNamespace || match.sourceNamespace === src.namespace;
  return gatewayMatch && labelMatch && portMatch && nsMatch;
}

/** A VirtualService's hosts with short names resolved in its namespace (as Istio's push context does). */
export function vsHosts(vs: VirtualService): string[] {
  return (vs.spec.hosts ?? []).map((h) => resolveShortName(h, vs.metadata.namespace));
}

/** Istio's getConfigsForHost: VirtualServices with a host overlapping `hostname`. */
export function configsForHost(virtualServices: readonly VirtualService[], hostname: string): VirtualService[] {
  return virtualServices.filter((vs) => vsHosts(vs).some((h) => hostsOverlap(h, hostname)));
}

/** Does any VirtualService route TCP/TLS by the source's labels or namespace (so listeners depend on them)? */
export function usesSourcePredicates(virtualServices: readonly VirtualService[]): boolean {
  for (const vs of virtualServices) {
    for (const r of [...(vs.spec.tcp ?? []), ...(vs.spec.tls ?? [])]) {
      for (const m of r.match ?? []) {
        if ((m.sourceLabels && Object.keys(m.sourceLabels).length > 0) || m.sourceNamespace) return true;
      }
    }
  }
  return false;
}

/**
 * Istio's GetDestinationCluster: `outbound|PORT|SUBSET|HOST`, the port being the destination's,
 * else the service's only port, else the listener port.
 */
export function destinationCluster(dest: RouteDestination["destination"], host: string, service: Service | undefined, listenPort: number): string {
  let port = listenPort;
  if (dest.port?.number) port = dest.port.number;
  else if (service && service.ports.length === 1) port = service.ports[0].port;
  return outboundClusterName(port, host, dest.subset ?? "");
}

/** Filter chain metadata naming the config a chain came from (Istio's BuildConfigInfoMetadata). */
export function configMetadata(vs: VirtualService): Metadata {
  const [group, version] = vs.apiVersion.includes("/") ? vs.apiVersion.split("/") : ["networking.istio.io", vs.apiVersion];
  const path = `/apis/${group}/${version}/namespaces/${vs.metadata.namespace}/virtual-service/${vs.metadata.name}`;
  return { filterMetadata: { istio: struct({ config: path }) } };
}

/** What network filters are built from: the push, the proxy's config namespace and node metadata. */
export interface NetworkFilterContext {
  push: PushContext;
  /** The proxy's namespace: DestinationRule lookup and service visibility. */
  namespace: string;
  /** Node metadata IDLE_TIMEOUT (ms), the tcp_proxy idle timeout when no DestinationRule sets one. */
  idleTimeoutMs?: number;
  /** The listener class's TCP telemetry: istio.stats before tcp_proxy, the access log in it. */
  telemetry?: TcpTelemetry;
}

function tcpIdleTimeout(dr: MergedDestinationRule | undefined, ctx: NetworkFilterContext): Duration | undefined {
  const s = dr?.trafficPolicy?.connectionPool?.tcp?.idleTimeout;
  const ms = s !== undefined ? parseDuration(s) : undefined;
  if (ms !== undefined) return duration(ms);
  return ctx.idleTimeoutMs !== undefined ? duration(ctx.idleTimeoutMs) : undefined;
}

function maxConnectionDuration(dr: MergedDestinationRule | undefined): Duration | undefined {
  const s = dr?.trafficPolicy?.connectionPool?.tcp?.maxConnectionDuration;
  const ms = s !== undefined ? parseDuration(s) : undefined;
  return ms ? duration(ms) : undefined;
}

/** Istio's maybeSetHashPolicy: hash on the source IP when the rule (or the subset's rule) says so. */
function hashSourceIp(dr: MergedDestinationRule | undefined, subset: string): boolean {
  if (!dr) return false;
  let useSourceIp = dr.trafficPolicy?.loadBalancer?.consistentHash?.useSourceIp === true;
  const s = dr.subsets.find((x) => x.name === subset);
  const lb = s?.trafficPolicy?.loadBalancer;
  if (lb) useSourceIp = lb.consistentHash?.useSourceIp === true;
  return useSourceIp;
}

/** Istio's buildOutboundNetworkFiltersWithSingleDestination (access logs and tunneling aside). */
export function singleDestinationFilters(
  statPrefix: string,
  cluster: string,
  subset: string,
  dr: MergedDestinationRule | undefined,
  ctx: NetworkFilterContext,
): NetworkFilter[] {
  return [
    ...(ctx.telemetry?.stats ?? []),
    tcpProxyFilter({
      statPrefix,
      cluster,
      idleTimeout: tcpIdleTimeout(dr, ctx),
      maxDownstreamConnectionDuration: maxConnectionDuration(dr),
      hashSourceIp: hashSourceIp(dr, subset),
      accessLog: ctx.telemetry?.accessLog,
    }),
  ];
}

/**
 * Istio's buildOutboundNetworkFilters: one destination → `cluster` with the cluster name as stat
 * prefix; several → `weightedClusters` (destinations with weight 0 dropped) with the stat prefix
 * `VSNAME.NAMESPACE`. The DestinationRule of the first destination's service supplies the idle
 * timeout and hash policy.
 */
export function outboundNetworkFilters(
  routes: readonly RouteDestination[],
  listenPort: number,
  vs: VirtualService,
  ctx: NetworkFilterContext,
): NetworkFilter[] {
  const hostOf = (r: RouteDestination): string => resolveShortName(r.destination.host, vs.metadata.namespace);
  const firstHost = hostOf(routes[0]);
  const firstService = ctx.push.pickService(firstHost, ctx.namespace);
  const dr = firstService ? ctx.push.destinationRule(ctx.namespace, firstService) : undefined;
  if (routes.length === 1) {
    const cluster = destinationCluster(routes[0].destination, firstHost, firstService, listenPort);
    return singleDestinationFilters(cluster, cluster, routes[0].destination.subset ?? "", dr, ctx);
  }
  const weighted: WeightedCluster[] = [];
  for (const r of routes) {
    if (!r.weight || r.weight <= 0) continue;
    const host = hostOf(r);
    weighted.push({ name: destinationCluster(r.destination, host, ctx.push.pickService(host, ctx.namespace), listenPort), weight: r.weight });
  }
  return [
    ...(ctx.telemetry?.stats ?? []),
    tcpProxyFilter({
      statPrefix: `${vs.metadata.name}.${vs.metadata.namespace}`,
      weightedClusters: weighted,
      idleTimeout: tcpIdleTimeout(dr, ctx),
      maxDownstreamConnectionDuration: maxConnectionDuration(dr),
      hashSourceIp: hashSourceIp(dr, ""),
      accessLog: ctx.telemetry?.accessLog,
    }),
  ];
}

/** The listener port a sidecar chain is built for. */
export interface ListenPort {
  port: number;
  protocol: Protocol;
  name?: string;
}

/** Istio's tcp/tls default cluster: the service's only port, else the listener port. */
function defaultServicePort(service: Service, listenPort: ListenPort): number {
  return service.ports.length === 1 ? service.ports[0].port : listenPort.port;
}

export interface SidecarL4Options {
  ctx: NetworkFilterContext;
  src: L4Source;
  service: Service;
  listenPort: ListenPort;
  /** Listener bind address ("0.0.0.0", a VIP, or an egress listener's bind). */
  bind: string;
  /** The service's listen address: first VIP, or "0.0.0.0" without one. */
  serviceAddress: string;
  /** Destination CIDRs when the service address is a CIDR. */
  destinationCidrs: readonly string[];
  /** VirtualServices for the service's host (bound to "mesh"). */
  virtualServices: readonly VirtualService[];
}

/**
 * Istio's buildSidecarOutboundTLSFilterChainOpts: one chain per distinct (sniHosts, subnets) among
 * matching `tls[]` routes; without any, one chain to the service's cluster, matched by the service's
 * hostname as SNI when the listener is shared (bound to 0.0.0.0 without a VIP).
 */
export function sidecarTlsChains(o: SidecarL4Options): ChainOptions[] {
  const out: ChainOptions[] = [];
  const handled = new Set<string>();
  let cidrs = o.destinationCidrs;
  let hasTlsMatch = false;
  for (const vs of o.virtualServices) {
    for (const tls of vs.spec.tls ?? []) {
      if (!tls.route || tls.route.length === 0) continue;
      for (const match of tls.match) {
        if (!matchL4(match, vs.metadata.namespace, o.src)) continue;
        if (match.destinationSubnets && match.destinationSubnets.length > 0 && o.listenPort.port > 0) cidrs = match.destinationSubnets;
        const key = `${match.sniHosts.join(",")}|${(match.destinationSubnets ?? []).join(",")}`;
        if (!handled.has(key)) {
          out.push({
            metadata: configMetadata(vs),
            sniHosts: match.sniHosts,
            destinationCidrs: cidrs,
            networkFilters: outboundNetworkFilters(tls.route, o.listenPort.port, vs, o.ctx),
          });
          hasTlsMatch = true;
        }
        handled.add(key);
      }
    }
  }
  if (!hasTlsMatch) {
    const cluster = outboundClusterName(defaultServicePort(o.service, o.listenPort), o.service.hostname);
    const shared = cidrs.length > 0 || o.serviceAddress === "" || (o.serviceAddress === "0.0.0.0" && o.bind === "0.0.0.0");
    const dr = o.ctx.push.destinationRule(o.ctx.namespace, o.service);
    out.push({
      sniHosts: shared ? [o.service.hostname] : undefined,
      destinationCidrs: cidrs,
      networkFilters: singleDestinationFilters(cluster, cluster, "", dr, o.ctx),
    });
  }
  return out;
}

/**
 * Istio's buildSidecarOutboundTCPFilterChainOpts: `tcp[]` routes in order; a route without
 * matches, or a matching match without destination subnets, is terminal (a match-all chain);
 * subnet-only matches become chains matching those CIDRs. Without a terminal route the service's
 * own cluster is the default.
 */
export function sidecarTcpChains(o: SidecarL4Options): ChainOptions[] {
  const out: ChainOptions[] = [];
  let defaultRouteAdded = false;
  outer: for (const vs of o.virtualServices) {
    for (const tcp of vs.spec.tcp ?? []) {
      if (!tcp.route || tcp.route.length === 0) continue;
      if (!tcp.match || tcp.match.length === 0) {
        out.push({ metadata: configMetadata(vs), destinationCidrs: o.destinationCidrs, networkFilters: outboundNetworkFilters(tcp.route, o.listenPort.port, vs, o.ctx) });
        defaultRouteAdded = true;
        break outer;
      }
      const subnets: string[] = [];
      for (const match of tcp.match) {
        if (!matchL4(match, vs.metadata.namespace, o.src)) continue;
        if (!match.destinationSubnets || match.destinationSubnets.length === 0 || o.listenPort.port === 0) {
          out.push({ metadata: configMetadata(vs), destinationCidrs: o.destinationCidrs, networkFilters: outboundNetworkFilters(tcp.route, o.listenPort.port, vs, o.ctx) });
          defaultRouteAdded = true;
          break outer;
        }
        subnets.push(...match.destinationSubnets);
      }
      if (subnets.length > 0) {
        out.push({ destinationCidrs: subnets, networkFilters: outboundNetworkFilters(tcp.route, o.listenPort.port, vs, o.ctx) });
        if ([...subnets].sort().join(",") === [...o.destinationCidrs].sort().join(",")) defaultRouteAdded = true;
      }
    }
  }
  if (!defaultRouteAdded) {
    const cluster = outboundClusterName(defaultServicePort(o.service, o.listenPort), o.service.hostname);
    const dr = o.ctx.push.destinationRule(o.ctx.namespace, o.service);
    out.push({ destinationCidrs: o.destinationCidrs, networkFilters: singleDestinationFilters(cluster, cluster, "", dr, o.ctx) });
  }
  return out;
}

// ---- gateways ----

/** A Gateway server as the gateway builder sees it (hosts already sanitized: `ns/host` or `host`). */
export interface GatewayServerView {
  port: { number: number; name: string; protocol: string };
  hosts: readonly string[];
  bind?: string;
  tlsMode?: string;
}

/**
 * Istio's pickMatchingGatewayHosts: VirtualService hosts overlapping a server host, where a server
 * host `ns/host` only admits VirtualServices from `ns`.
 */
export function matchingGatewayHosts(serverHosts: readonly string[], vs: VirtualService): string[] {
  const out: string[] = [];
  for (const vsHost of vsHosts(vs)) {
    for (const gh of serverHosts) {
      let h = gh;
      const slash = gh.indexOf("/");
      if (slash >= 0) {
        if (gh.slice(0, slash) !== vs.metadata.namespace) continue;
        h = gh.slice(slash + 1);
      }
      if (hostsOverlap(h, vsHost)) {
        out.push(vsHost);
        break;
      }
    }
  }
  return out;
}

/** Istio's l4SingleMatch for gateways: only the port (the server's) and the gateway name count. */
function gatewayL4Match(match: TcpMatch | TlsMatch, vsNamespace: string, server: GatewayServerView, gatewayName: string): boolean {
  const portMatch = !match.port || match.port === server.port.number;
  const gws = match.gateways ?? [];
  const gatewayMatch = gws.length === 0 || gws.some((g) => resolveGatewayName(g, vsNamespace) === gatewayName);
  return portMatch && gatewayMatch;
}

/**
 * Istio's buildGatewayNetworkFiltersFromTCPRoutes: the first `tcp[]` route of a VirtualService bound
 * to the gateway (hosts matching the server's) whose matches hold; undefined when none does.
 */
export function gatewayTcpFilters(
  server: GatewayServerView,
  gatewayName: string,
  virtualServices: readonly VirtualService[],
  ctx: NetworkFilterContext,
): NetworkFilter[] | undefined {
  for (const vs of virtualServices) {
    if (matchingGatewayHosts(server.hosts, vs).length === 0) continue;
    for (const tcp of vs.spec.tcp ?? []) {
      const matches = tcp.match ?? [];
      const ok = matches.length === 0 || matches.some((m) => gatewayL4Match(m, vs.metadata.namespace, server, gatewayName));
      if (!ok || !tcp.route || tcp.route.length === 0) continue;
      return outboundNetworkFilters(tcp.route, server.port.number, vs, ctx);
    }
  }
  return undefined;
}

/**
 * Istio's buildGatewayNetworkFiltersFromTLSRoutes for PASSTHROUGH servers: one chain per matching
 * `tls[]` match, matched by its sniHosts; SNI names already claimed on this listener port (same
 * bind) are skipped, as Envoy rejects identical filter chain matches.
 */
export function gatewayTlsPassthroughChains(
  server: GatewayServerView,
  gatewayName: string,
  virtualServices: readonly VirtualService[],
  ctx: NetworkFilterContext,
  knownSni: Map<string, string>,
): ChainOptions[] {
  const out: ChainOptions[] = [];
  const bind = server.bind ?? "";
  for (const vs of virtualServices) {
    if (matchingGatewayHosts(server.hosts, vs).length === 0) continue;
    for (const tls of vs.spec.tls ?? []) {
      if (!tls.route || tls.route.length === 0) continue;
      for (const match of tls.match) {
        if (!gatewayL4Match(match, vs.metadata.namespace, server, gatewayName)) continue;
        if (match.sniHosts.some((h) => knownSni.get(h) === bind)) continue;
        for (const h of match.sniHosts) knownSni.set(h, bind);
        out.push({ sniHosts: match.sniHosts, networkFilters: outboundNetworkFilters(tls.route, server.port.number, vs, ctx) });
      }
    }
  }
  return out;
}
