// The `status` istiod writes on Gateway API resources, computed from the conversion: a
// GatewayClass's Accepted; a Gateway's addresses, Accepted/Programmed conditions and per-listener
// status (supportedKinds, attachedRoutes, Accepted/Programmed/Conflicted/ResolvedRefs); a route's
// parents[] with Accepted/ResolvedRefs. Pure functions, and a provider for the mesh API's status
// registry (src/controlplane/status.ts) that computes the conversion once per listing.
import type { AnyResource } from "../../api/resource.js";
import { gatewayAddresses } from "./addresses.js";
import { condition, GatewayReason, ISTIO_CONTROLLER, type Condition } from "./conditions.js";
import { convertGatewayApi, type GatewayApiConversion } from "./convert.js";
import type { ConvertedGateway } from "./gateways.js";
import { GATEWAY_GROUP } from "./references.js";

type Meta = { name: string; namespace: string; generation?: number };

const observed = (conditions: Condition[], generation: number | undefined): Condition[] =>
  generation === undefined ? conditions : conditions.map((c) => ({ ...c, observedGeneration: generation }));

/** A GatewayClass's status: Accepted when istiod's controller handles it (undefined for another controller's). */
export function gatewayClassStatus(cls: { metadata: Meta; spec: { controllerName: string } }): Record<string, unknown> | undefined {
  if (cls.spec.controllerName !== ISTIO_CONTROLLER) return undefined;
  return { conditions: observed([condition("Accepted", true, GatewayReason.Accepted, "Handled by Istio controller")], cls.metadata.generation) };
}

/** A Gateway's status, given the conversion and the address its router has (undefined for another class's Gateway). */
export function gatewayStatus(conv: GatewayApiConversion, gw: { metadata: Meta }, address: string | undefined): Record<string, unknown> | undefined {
  const c = conv.converted.get(`${gw.metadata.namespace}/${gw.metadata.name}`);
  if (!c) return undefined;
  // istiod's deployment (and its Service) is NAME-CLASS.
  const service = `${gw.metadata.name}-${c.gateway.spec.gatewayClassName}.${gw.metadata.namespace}.svc.cluster.local`;
  const ports = c.listeners.filter((l) => l.server).map((l) => l.listener.port);
  const allProgrammed = c.listeners.every((l) => l.server);
  if (c.manual) return manualGatewayStatus(c, gw.metadata.generation);
  const programmed = !address
    ? condition("Programmed", false, GatewayReason.AddressNotAssigned, "no router runs for this Gateway (tsmesh up starts one)")
    : allProgrammed
      ? condition("Programmed", true, GatewayReason.Programmed, `Resource programmed, assigned to service(s) ${[...new Set(ports)].map((p) => `${service}:${p}`).join(", ")}`)
      : condition("Programmed", false, GatewayReason.Invalid, "Resource programmed, but some listeners could not be");
  return {
    ...(address ? { addresses: [{ type: "IPAddress", value: address }] } : {}),
    conditions: observed([c.conditions[0], programmed, ...c.conditions.slice(1)], gw.metadata.generation),
    listeners: listenerStatus(c, gw.metadata.generation),
  };
}

function listenerStatus(c: ConvertedGateway, generation: number | undefined): Array<Record<string, unknown>> {
  return c.listeners.map((l) => ({
    name: l.listener.name,
    supportedKinds: l.supportedKinds.map((kind) => ({ group: GATEWAY_GROUP, kind })),
    attachedRoutes: l.attachedRoutes,
    conditions: observed(l.conditions, generation),
  }));
}

/** A manually deployed Gateway's status: the gateway Service it runs on (by host), Programmed when there is one. */
function manualGatewayStatus(c: ConvertedGateway, generation: number | undefined): Record<string, unknown> {
  const m = c.manual!;
  const ports = [...new Set(c.listeners.filter((l) => l.server).map((l) => l.listener.port))];
  const programmed = m.service
    ? condition("Programmed", true, GatewayReason.Programmed, `Resource programmed, assigned to service(s) ${ports.map((p) => `${m.service}:${p}`).join(", ")}`)
    : condition("Programmed", false, GatewayReason.AddressNotAssigned, `Failed to assign to any requested addresses: no service ${m.hosts.join(", ")} with gateway workloads (a ServiceEntry with that host and a workloadSelector)`);
  return {
    ...(m.service ? { addresses: [{ type: "Hostname", value: m.service }] } : {}),
    conditions: observed([c.conditions[0], programmed, ...c.conditions.slice(1)], generation),
    listeners: listenerStatus(c, generation),
  };
}

/** A route's status: one parents[] entry per parentRef istiod's controller answers for (undefined when none). */
export function routeStatus(conv: GatewayApiConversion, route: { kind: string; metadata: Meta }): Record<string, unknown> | undefined {
  const parents = conv.routeParents.get(`${route.kind}/${route.metadata.namespace}/${route.metadata.name}`);
  if (!parents) return undefined;
  return { parents: parents.map((p) => ({ ...p, conditions: observed(p.conditions, route.metadata.generation) })) };
}

/** The kinds the provider below answers for (internal kind names). */
export const GATEWAY_API_STATUS_KINDS = ["GatewayClass", "KubernetesGateway", "HTTPRoute", "GRPCRoute", "TCPRoute", "TLSRoute"] as const;

/** What the mesh API's status context gives a provider (src/controlplane/status.ts StatusContext). */
export interface StatusInputs {
  readonly resources: readonly AnyResource[];
  memo<T>(key: string, compute: () => T): T;
}

/** A status provider for the Gateway API kinds: register it with GATEWAY_API_STATUS_KINDS. */
export function gatewayApiStatusProvider(resource: AnyResource, ctx: StatusInputs): Record<string, unknown> | undefined {
  const conv = ctx.memo("gateway-api conversion", () => convertGatewayApi(ctx.resources));
  switch (resource.kind) {
    case "GatewayClass":
      return gatewayClassStatus(resource);
    case "KubernetesGateway": {
      const addresses = ctx.memo("gateway-api addresses", () => new Map(gatewayAddresses(ctx.resources).map((a) => [`${a.gateway.metadata.namespace}/${a.gateway.metadata.name}`, a.address])));
      return gatewayStatus(conv, resource, addresses.get(`${resource.metadata.namespace}/${resource.metadata.name}`));
    }
    case "HTTPRoute":
    case "GRPCRoute":
    case "TCPRoute":
    case "TLSRoute":
      return routeStatus(conv, resource);
    default:
      return undefined;
  }
}



/** A listener of a Gateway's router that could not bind (what its LDS NACK said). */
export interface RouterBindFailure {
  address: string;
  port: number;
  error: string;
}

/**
 * A Gateway API Gateway's status with its router's bind failures: the Gateway and the listeners on
 * a failed port are not Programmed (Invalid, naming the address:port and the OS error). istiod's
 * Programmed follows only the Service; here the router is local and its LDS NACK is the truth.
 * Undefined when nothing failed (the provider above has said everything).
 */
export function bindFailureStatus(resource: AnyResource, ctx: StatusInputs, failuresAt: (address: string) => readonly RouterBindFailure[]): Record<string, unknown> | undefined {
  if (resource.kind !== "KubernetesGateway") return undefined;
  const status = gatewayApiStatusProvider(resource, ctx);
  const address = (status?.addresses as Array<{ type: string; value: string }> | undefined)?.find((a) => a.type === "IPAddress")?.value;
  const failures = address === undefined ? [] : failuresAt(address);
  const c = ctx.memo("gateway-api conversion", () => convertGatewayApi(ctx.resources)).converted.get(`${resource.metadata.namespace}/${resource.metadata.name}`);
  if (!status || !c || failures.length === 0) return undefined;
  const why = (fs: readonly RouterBindFailure[]) => `The router could not listen on ${fs.map((f) => `${f.address}:${f.port}: ${f.error}`).join("; ")}`;
  const notProgrammed = (conditions: Condition[], message: string): Condition[] =>
    conditions.map((x) => (x.type === "Programmed" ? { ...x, status: "False", reason: GatewayReason.Invalid, message } : x));
  const listeners = (status.listeners as Array<{ conditions: Condition[] }>).map((l, i) => {
    const mine = failures.filter((f) => f.port === c.listeners[i]?.listener.port);
    return mine.length === 0 ? l : { ...l, conditions: notProgrammed(l.conditions, why(mine)) };
  });
  return { ...status, conditions: notProgrammed(status.conditions as Condition[], why(failures)), listeners };
}
