// The proxyless gRPC form (Istio's grpcgen): gRPC clients ask for listeners by target
// (`xds:///reviews.default.svc.cluster.local:9080` → listener `reviews.default.svc.cluster.local:9080`)
// and get an api_listener HCM with RDS, one RouteConfiguration of the same name, EDS-only clusters
// and endpoints. Only what gRPC clients accept is emitted (route actions only, round robin or ring
// hash, IP endpoints), in forms every release of the last years parses (grpc-compat.ts), so a client
// never has to NACK.
import { MESH_GATEWAY, resolveShortName } from "../../api/hosts.js";
import { anyOf } from "../../envoy/protos.js";
import type { Cluster, Listener, Route, RouteConfiguration } from "../../envoy/types.js";
import type { Proxy } from "../../model/proxy.js";
import type { PushContext } from "../../model/push-context.js";
import type { Service, ServicePortInfo } from "../../registry/model.js";
import { outboundClusterFor } from "./clusters.js";
import { FAULT_FILTER, ROUTER_FILTER } from "./filters.js";
import { grpcClientSupport, proxylessCluster } from "./grpc-compat.js";
import { convertHttpRoutes, defaultOutboundRoute } from "./httproute.js";
import { outboundClusterName, parseClusterName } from "./names.js";
import { routeHashPolicy } from "./traffic-policy.js";

const HCM_TYPE = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

export interface GrpcTarget {
  /** The name the client asked for (`HOST:PORT`). */
  name: string;
  service: Service;
  port: ServicePortInfo;
}

/**
 * Resolves a listener name `HOST:PORT` as a gRPC client in `proxy`'s namespace means it: the FQDN,
 * or a short name (`reviews`, `reviews.default`) completed with the mesh domain.
 */
export function resolveGrpcTarget(proxy: Proxy, push: PushContext, name: string): GrpcTarget | undefined {
  const colon = name.lastIndexOf(":");
  if (colon <= 0) return undefined;
  const host = name.slice(0, colon);
  const port = Number(name.slice(colon + 1));
  if (!Number.isInteger(port) || port <= 0) return undefined;
  const candidates = [host, resolveShortName(host, proxy.namespace)];
  if (host.split(".").length === 2) candidates.push(`${host}.svc.cluster.local`);
  if (host.endsWith(".svc")) candidates.push(`${host}.cluster.local`);
  for (const h of candidates) {
    const service = push.pickService(h, proxy.namespace);
    const p = service?.ports.find((x) => x.port === port);
    if (service && p) return { name, service, port: p };
  }
  return undefined;
}

/** api_listener listeners for the requested targets (unknown targets are left out: "does not exist"). */
export function buildGrpcListeners(proxy: Proxy, push: PushContext, names: readonly string[]): Listener[] {
  const out: Listener[] = [];
  for (const name of names) {
    if (!resolveGrpcTarget(proxy, push, name)) continue;
    out.push(
      push.memo(`grpc/lds/${name}`, (): Listener => ({
        name,
        apiListener: {
          apiListener: anyOf(HCM_TYPE, {
            rds: { configSource: { ads: {}, resourceApiVersion: "V3" }, routeConfigName: name },
            httpFilters: [
              { name: FAULT_FILTER, typedConfig: anyOf("envoy.extensions.filters.http.fault.v3.HTTPFault", {}) },
              { name: ROUTER_FILTER, typedConfig: anyOf("envoy.extensions.filters.http.router.v3.Router", {}) },
            ],
          }),
        },
      })),
    );
  }
  return out;
}

/** One RouteConfiguration per target, named like the listener, routes from the VirtualService. */
export function buildGrpcRoutes(proxy: Proxy, push: PushContext, names: readonly string[]): RouteConfiguration[] {
  const out: RouteConfiguration[] = [];
  for (const name of names) {
    const target = resolveGrpcTarget(proxy, push, name);
    if (!target) continue;
    const { service, port } = target;
    const vss = push
      .virtualServices(proxy.namespace, MESH_GATEWAY)
      .filter((vs) => vs.spec.hosts?.some((h) => resolveShortName(h, vs.metadata.namespace) === service.hostname));
    const sourceLabelsKey = vss.length > 0 ? Object.entries(proxy.labels).sort().join(",") : "";
    out.push(
      push.memo(`grpc/rds/${proxy.namespace}/${sourceLabelsKey}/${name}`, (): RouteConfiguration => {
        const hashPolicy = (host: string, p: number, subset: string | undefined) => routeHashPolicy(push, proxy, host, p, subset);
        let routes: Route[] = [];
        if (vss.length > 0) {
          routes = convertHttpRoutes(vss[0], { proxy, push, port: port.port, gateway: MESH_GATEWAY, grpc: true, hashPolicy }).routes;
        }
        if (routes.length === 0) {
          const cluster = outboundClusterName(port.port, service.hostname);
          routes = [defaultOutboundRoute(cluster, `${service.hostname}:${port.port}/*`, hashPolicy(service.hostname, port.port, undefined), true)];
        }
        const domains = [...new Set([name, `${service.hostname}:${port.port}`, service.hostname])];
        return { name, virtualHosts: [{ name: `${service.hostname}:${port.port}`, domains, routes }] };
      }),
    );
  }
  return out;
}

/** EDS-only clusters for the requested `outbound|PORT|SUBSET|HOST` names (ring hash if the client has it). */
export function buildGrpcClusters(proxy: Proxy, push: PushContext, names: readonly string[]): Cluster[] {
  const out: Cluster[] = [];
  const support = grpcClientSupport(proxy.userAgentName, proxy.userAgentVersion);
  for (const name of names) {
    const parsed = parseClusterName(name);
    if (!parsed || parsed.direction !== "outbound") continue;
    const service = push.pickService(parsed.host, proxy.namespace);
    const port = service?.ports.find((p) => p.port === parsed.port);
    if (!service || !port) continue;
    const c = outboundClusterFor(proxy, push, service, port, parsed.subset || undefined, { grpc: true });
    if (c) out.push(proxylessCluster(c, support));
  }
  return out;
}
