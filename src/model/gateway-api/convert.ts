// The Kubernetes Gateway API → Istio's Gateways and VirtualServices, as istiod converts them
// (pilot/pkg/config/kube/gateway): Gateways of an Istio class become one Istio Gateway per listener;
// HTTPRoutes and GRPCRoutes become one VirtualService per (parent listener, or mesh Service or
// ServiceEntry, and host), the routes of every HTTPRoute on it merged and sorted by the Gateway
// API's precedence; TCPRoutes and TLSRoutes one VirtualService per parent. What did not attach or resolve is kept for status.
import type { AnyResource, HTTPRoute as VsHttpRoute, Resource, TCPRoute as VsTcpRoute, TLSRoute as VsTlsRoute } from "../../api/resource.js";
import { condition, isInvalidBackend, ISTIO_CONTROLLER, RouteReason, type Condition, type ConfigError } from "./conditions.js";
import { classIsIstio, convertGateway, GENERATED, matchListeners, type ConvertedGateway, type ConvertedListener } from "./gateways.js";
import { convertRule, sortHttpRoutes, type RouteRule } from "./http-routes.js";
import { registryServiceEntries } from "../../registry/kube-service.js";
import { buildDestination, GATEWAY_GROUP, ReferenceGrants, serviceSelectorsOf, type ConversionContext, type ObjectRef } from "./references.js";

export type RouteKind = "HTTPRoute" | "GRPCRoute" | "TCPRoute" | "TLSRoute";
type AnyRoute = Resource<RouteKind>;
type ParentRef = ObjectRef & { sectionName?: string };

export interface RouteParentStatus {
  parentRef: ParentRef;
  controllerName: string;
  conditions: Condition[];
}

export interface GatewayApiConversion {
  gateways: Array<Resource<"Gateway">>;
  virtualServices: Array<Resource<"VirtualService">>;
  /** Converted Gateways of an Istio class, by `namespace/name`. */
  converted: ReadonlyMap<string, ConvertedGateway>;
  /** Route status parents by `Kind/namespace/name` (routes whose parents are all another controller's have none). */
  routeParents: ReadonlyMap<string, RouteParentStatus[]>;
}

interface BaseVirtualService {
  key: string;
  namespace: string;
  parents: string;
  gateway: string;
  host: string;
  http: VsHttpRoute[];
}

const byCreation = (a: AnyResource, b: AnyResource): number =>
  (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? "") ||
  a.metadata.namespace.localeCompare(b.metadata.namespace) ||
  a.metadata.name.localeCompare(b.metadata.name);

const ZERO_WEIGHT = { destination: { host: "internal.cluster.local", subset: "zero-weight", port: { number: 65535 } }, weight: 0 };

function routeMeta(kind: string, r: AnyRoute): Record<string, string> {
  return { "internal.istio.io/parents": `${kind}/${r.metadata.name}.${r.metadata.namespace}`, "internal.istio.io/route-semantics": "gateway" };
}

/** The rules of an HTTPRoute/GRPCRoute, one Istio route per match, for gateway (refs enforced) or mesh parents. */
function httpRoutes(ctx: ConversionContext, kind: "HTTPRoute" | "GRPCRoute", r: AnyRoute, enforce: boolean): { routes: VsHttpRoute[]; error?: ConfigError } {
  const routes: VsHttpRoute[] = [];
  let error: ConfigError | undefined;
  const rules = ((r.spec as { rules?: RouteRule[] }).rules ?? []) as RouteRule[];
  rules.forEach((rule, n) => {
    const matches = rule.matches && rule.matches.length > 0 ? rule.matches.map((m) => [m]) : [undefined];
    for (const m of matches) {
      const c = convertRule(ctx, kind, { ...rule, matches: m }, r.metadata, n, enforce);
      if (c.route) routes.push(c.route);
      if (c.error && (!error || !isInvalidBackend(c.error))) error = c.error;
    }
  });
  return { routes, error };
}

function tcpRoutes(ctx: ConversionContext, kind: "TCPRoute" | "TLSRoute", r: AnyRoute, enforce: boolean): { routes: Array<VsTcpRoute | VsTlsRoute>; error?: ConfigError } {
  const routes: Array<VsTcpRoute | VsTlsRoute> = [];
  let error: ConfigError | undefined;
  const rules = (r.spec as { rules?: Array<{ backendRefs?: Array<ObjectRef & { weight?: number }> }> }).rules ?? [];
  const hostnames = (r.spec as { hostnames?: string[] }).hostnames ?? [];
  for (const rule of rules) {
    const refs = (rule.backendRefs ?? []).filter((b) => (b.weight ?? 1) !== 0);
    const route: Array<{ destination: { host: string; port?: { number: number }; subset?: string }; weight?: number }> = [];
    if (refs.length === 0) route.push(ZERO_WEIGHT);
    for (const b of refs) {
      const d = buildDestination(ctx, b, r.metadata.namespace, kind, enforce);
      if (d.error) error ??= d.error;
      if (d.error && !isInvalidBackend(d.error)) continue;
      route.push(refs.length > 1 ? { destination: d.destination!, weight: b.weight ?? 1 } : { destination: d.destination! });
    }
    routes.push(kind === "TLSRoute" ? { match: [{ sniHosts: hostnames.length > 0 ? hostnames : ["*"] }], route } : { route });
  }
  return { routes, error };
}

function routeConditions(accepted: { reason: string; message: string } | undefined, error: ConfigError | undefined): Condition[] {
  const acceptedCond = accepted
    ? condition("Accepted", false, accepted.reason, accepted.message)
    : error && !isInvalidBackend(error)
      ? condition("Accepted", false, error.reason, error.message)
      : condition("Accepted", true, RouteReason.Accepted, "Route was valid");
  const resolved = error && isInvalidBackend(error) ? condition("ResolvedRefs", false, error.reason, error.message) : condition("ResolvedRefs", true, RouteReason.ResolvedRefs, "All references resolved");
  return [acceptedCond, resolved];
}

/** Converts every Gateway API resource among `resources` (a store listing; other kinds are read for services). */
export function convertGatewayApi(resources: Iterable<AnyResource>, domainSuffix = "cluster.local"): GatewayApiConversion {
  const classes = new Map<string, Resource<"GatewayClass">>();
  const kgws: Array<Resource<"KubernetesGateway">> = [];
  const grants: Array<Resource<"ReferenceGrant">> = [];
  const routes: Array<{ kind: RouteKind; r: AnyRoute }> = [];
  const serviceHosts = new Set<string>();
  const serviceEntries = new Map<string, Resource<"ServiceEntry">>();
  const services: Array<Resource<"Service">> = [];
  const namespaces = new Set<string>();
  for (const r of resources) {
    namespaces.add(r.metadata.namespace);
    if (r.kind === "GatewayClass") classes.set(r.metadata.name, r);
    else if (r.kind === "KubernetesGateway") kgws.push(r);
    else if (r.kind === "ReferenceGrant") grants.push(r);
    else if (r.kind === "HTTPRoute" || r.kind === "GRPCRoute" || r.kind === "TCPRoute" || r.kind === "TLSRoute") routes.push({ kind: r.kind, r });
    else if (r.kind === "ServiceEntry") {
      serviceEntries.set(`${r.metadata.namespace}/${r.metadata.name}`, r);
      for (const h of r.spec.hosts ?? []) serviceHosts.add(h);
    } else if (r.kind === "Service") services.push(r);
  }
  // Kubernetes Services are backends and name a manual deployment's workloads, as ServiceEntries do.
  const kubeServices = registryServiceEntries(services, domainSuffix);
  for (const se of kubeServices) for (const h of se.spec.hosts) serviceHosts.add(h);
  const ctx: ConversionContext = { domainSuffix, grants: new ReferenceGrants(grants), serviceHosts, namespaces, serviceSelectors: serviceSelectorsOf([...serviceEntries.values(), ...kubeServices]) };
  const converted = new Map<string, ConvertedGateway>();
  const allGateways = new Set(kgws.map((g) => `${g.metadata.namespace}/${g.metadata.name}`));
  for (const gw of kgws.sort(byCreation)) {
    if (classIsIstio(gw.spec.gatewayClassName, classes)) converted.set(`${gw.metadata.namespace}/${gw.metadata.name}`, convertGateway(ctx, gw));
  }

  const base: BaseVirtualService[] = [];
  const others: Array<Resource<"VirtualService">> = [];
  const routeParents = new Map<string, RouteParentStatus[]>();
  routes.sort((a, b) => byCreation(a.r as AnyResource, b.r as AnyResource));
  for (const { kind, r } of routes) {
    const ns = r.metadata.namespace;
    const hostnames = (r.spec as { hostnames?: string[] }).hostnames ?? [];
    const http = kind === "HTTPRoute" || kind === "GRPCRoute";
    const memo = new Map<boolean, { routes: Array<VsHttpRoute | VsTcpRoute | VsTlsRoute>; error?: ConfigError }>();
    const rulesFor = (enforce: boolean) => {
      let c = memo.get(enforce);
      if (!c) memo.set(enforce, (c = http ? httpRoutes(ctx, kind, r, enforce) : tcpRoutes(ctx, kind, r, enforce)));
      return c;
    };
    const parents: RouteParentStatus[] = [];
    let count = 0;
    const emit = (gateway: string, hosts: string[], key: string, mesh: boolean, port?: number) => {
      const { routes: rs } = rulesFor(!mesh);
      if (rs.length === 0) return;
      for (const h of hosts) {
        if (http) {
          let list = rs as VsHttpRoute[];
          if (port !== undefined) list = list.map((x) => ({ ...x, match: x.match?.length ? x.match.map((m) => ({ ...m, port })) : [{ port }] }));
          base.push({ key: `${key}/${h}`, namespace: ns, parents: routeMeta(kind, r)["internal.istio.io/parents"], gateway, host: h, http: list });
          continue;
        }
        let list = rs as Array<{ match?: Array<Record<string, unknown>> }>;
        if (port !== undefined) list = list.map((x) => ({ ...x, match: x.match?.length ? x.match.map((m) => ({ ...m, port })) : [{ port }] }));
        const tag = kind === "TCPRoute" ? "tcp" : "tls";
        others.push({
          apiVersion: "networking.istio.io/v1",
          kind: "VirtualService",
          metadata: { name: `${r.metadata.name}~${tag}~${count++}~${GENERATED}`, namespace: ns, annotations: routeMeta(kind, r) },
          spec: { hosts: [h], gateways: [gateway], [tag]: list as unknown as VsTcpRoute[] },
        });
      }
    };
    for (const p of ((r.spec as { parentRefs?: ParentRef[] }).parentRefs ?? []) as ParentRef[]) {
      const group = p.group ?? GATEWAY_GROUP;
      const pkind = p.kind ?? "Gateway";
      const pns = p.namespace ?? ns;
      const status = (accepted?: { reason: string; message: string }, error?: ConfigError) =>
        parents.push({ parentRef: p, controllerName: ISTIO_CONTROLLER, conditions: routeConditions(accepted, error) });
      if (group === GATEWAY_GROUP && pkind === "Gateway") {
        const gw = converted.get(`${pns}/${p.name}`);
        if (!gw) {
          // Another controller's Gateway is not ours to report on; a missing one is.
          if (!allGateways.has(`${pns}/${p.name}`)) status({ reason: RouteReason.NoMatchingParent, message: `gateway ${pns}/${p.name} not found` });
          continue;
        }
        const m = matchListeners(ctx, gw, kind, ns, hostnames, p.sectionName, p.port);
        if (m.error) {
          status(m.error);
          continue;
        }
        for (const l of m.listeners) {
          l.attachedRoutes++;
          emit(l.internalName, http ? (hostnames.length > 0 ? hostnames : ["*"]) : kind === "TLSRoute" ? (hostnames.length > 0 ? hostnames : ["*"]) : ["*"], l.internalName, false);
        }
        status(undefined, rulesFor(true).error);
      } else if (group === "" && pkind === "Service") {
        // A mesh (GAMMA) route: the Service's own host, for sidecars. tsmesh's Services are the
        // ServiceEntries with the Service's FQDN (istiod's referenceAllowed checks the Service exists).
        const host = `${p.name}.${pns}.svc.${domainSuffix}`;
        if (!serviceHosts.has(host)) {
          status({ reason: RouteReason.NoMatchingParent, message: `parent service: ${JSON.stringify(p.name)} not found` });
          continue;
        }
        emit("mesh", [host], p.port !== undefined ? `${ns}/${p.port}` : ns, true, p.port);
        status(undefined, rulesFor(false).error);
      } else if (group === "networking.istio.io" && pkind === "ServiceEntry") {
        // A ServiceEntry parent routes its hosts (istiod: the ServiceEntry's spec.hosts).
        const se = serviceEntries.get(`${pns}/${p.name}`);
        if (!se) {
          status({ reason: RouteReason.NoMatchingParent, message: `ServiceEntry ${pns}/${p.name} not found` });
          continue;
        }
        emit("mesh", se.spec.hosts ?? [], p.port !== undefined ? `${ns}/${p.port}` : ns, true, p.port);
        status(undefined, rulesFor(false).error);
      } else {
        status({ reason: RouteReason.NoMatchingParent, message: `unsupported parent ${group}/${pkind}` });
      }
    }
    if (parents.length > 0) routeParents.set(`${kind}/${ns}/${r.metadata.name}`, parents);
  }
  return {
    gateways: [...converted.values()].flatMap((g) => g.istioGateways),
    virtualServices: [...mergeHttp(base), ...others],
    converted,
    routeParents,
  };
}

/** istiod's mergeHTTPRoutes: one VirtualService per key, routes appended in creation order, then sorted. */
function mergeHttp(base: BaseVirtualService[]): Array<Resource<"VirtualService">> {
  const byKey = new Map<string, BaseVirtualService[]>();
  for (const b of base) {
    const list = byKey.get(b.key) ?? [];
    list.push(b);
    byKey.set(b.key, list);
  }
  return [...byKey].map(([key, list]) => {
    const http = list.flatMap((b) => b.http);
    sortHttpRoutes(http);
    return {
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: {
        name: key.replace(/\//g, "~"),
        namespace: list[0].namespace,
        annotations: { "internal.istio.io/parents": list.map((b) => b.parents).join(","), "internal.istio.io/route-semantics": "gateway" },
      },
      spec: { hosts: [list[0].host], gateways: [list[0].gateway], http },
    };
  });
}

/**
 * What the conversion could not do, one line each, for the control plane's console (the same
 * facts as the resources' status): Gateways not accepted or with unresolved references, listeners
 * not programmed, route parents not accepted or with unresolved references.
 */
export function conversionProblems(conv: GatewayApiConversion): string[] {
  const out: string[] = [];
  for (const [key, g] of conv.converted) {
    for (const c of g.conditions) if (c.status === "False") out.push(`Gateway.gateway.networking.k8s.io ${key}: ${c.type} ${c.reason}: ${c.message}`);
    if (g.manual && !g.manual.service)
      out.push(`Gateway.gateway.networking.k8s.io ${key}: no workload serves it: no ServiceEntry with a workloadSelector has host ${g.manual.hosts.join(" or ")} (manual deployment)`);
    for (const l of g.listeners) {
      if (l.server) continue;
      const bad = l.conditions.find((c) => c.status === "False" && c.type !== "Conflicted") ?? l.conditions[l.conditions.length - 1];
      out.push(`Gateway.gateway.networking.k8s.io ${key}: listener ${l.listener.name} is not programmed: ${bad.reason}: ${bad.message}`);
    }
  }
  for (const [key, parents] of conv.routeParents) {
    const [kind, ns, name] = key.split("/");
    for (const p of parents) {
      for (const c of p.conditions) {
        if (c.status !== "False") continue;
        const parent = `${p.parentRef.kind ?? "Gateway"} ${p.parentRef.namespace ?? ns}/${p.parentRef.name}${p.parentRef.sectionName ? `/${p.parentRef.sectionName}` : ""}`;
        out.push(`${kind} ${ns}/${name}: parent ${parent}: ${c.type} ${c.reason}: ${c.message}`);
      }
    }
  }
  return out;
}

/** The listeners of a converted Gateway, for its status. */
export function listenersOf(conv: GatewayApiConversion, namespace: string, name: string): readonly ConvertedListener[] | undefined {
  return conv.converted.get(`${namespace}/${name}`)?.listeners;
}


