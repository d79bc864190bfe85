// EnvoyFilter patches on route configurations (Istio's envoyfilter/rc_patch.go):
// ROUTE_CONFIGURATION (MERGE), VIRTUAL_HOST (MERGE, REPLACE, REMOVE, ADD), HTTP_ROUTE (MERGE,
// REMOVE, ADD, INSERT_BEFORE/AFTER/FIRST), matched by route configuration name and port (sidecar:
// the RDS name is the port, or `inbound|PORT||`; gateway: `http.PORT` / `https.PORT.NAME.GW.NS`,
// the port through the gateway's listener → server port map), port name and gateway, virtual host
// name and domain, route name and action. Works in place on a copy the caller owns.
import type { CompiledPatch, PatchContext } from "../../../model/envoyfilter.js";
import { cloneProto } from "../../../envoy/proto-merge.js";
import type { ProtoObject } from "../../../envoy/protos.js";
import { contextMatches, insertAfter, insertBefore, isMerge, mergeValue, type PatchSet, type ReportPatch, type Used } from "./common.js";

type Obj = ProtoObject;
const ROUTE_CONFIGURATION = "envoy.config.route.v3.RouteConfiguration";
const VIRTUAL_HOST = "envoy.config.route.v3.VirtualHost";
const ROUTE = "envoy.config.route.v3.Route";

/** Gateway listener port → the Gateway server ports it serves (Istio's GatewayPortMap). */
export type GatewayPortMap = ReadonlyMap<number, ReadonlySet<number>>;

const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

/** Istio's ParseGatewayRDSRouteName: `http.8080` → port 8080; `https.443.NAME.GW.NS` → port, port name, `NS/GW`. */
export function parseGatewayRouteName(name: string): { port: number; portName: string; gateway: string } {
  const parts = name.split(".");
  if (name.startsWith("http.") && parts.length === 2) return { port: Number(parts[1]) || 0, portName: "", gateway: "" };
  if (name.startsWith("https.") && parts.length >= 5) {
    return { port: Number(parts[1]) || 0, portName: parts[2], gateway: `${parts[4]}/${parts[3]}` };
  }
  return { port: 0, portName: "", gateway: "" };
}

/** Istio's getListenerPortFromName: `inbound|PORT|…` or a bare port number. */
function sidecarRoutePort(name: string): number {
  if (name.startsWith("inbound|")) return Number(name.split("|")[1]) || 0;
  return /^\d+$/.test(name) ? Number(name) : 0;
}

function routeConfigurationMatch(ctx: PatchContext, rc: Obj, p: CompiledPatch, ports: GatewayPortMap): boolean {
  const m = p.match.routeConfiguration;
  if (!m) return true;
  const name = String(rc.name ?? "");
  if (m.name && m.name !== name) return false;
  if (ctx !== "GATEWAY") return !m.portNumber || m.portNumber === sidecarRoutePort(name);
  const parsed = parseGatewayRouteName(name);
  if (m.portName && m.portName !== parsed.portName) return false;
  if (m.gateway && m.gateway !== parsed.gateway) return false;
  if (m.portNumber) {
    const servers = ports.get(parsed.port);
    if (servers ? !servers.has(m.portNumber) : parsed.port !== m.portNumber) return false;
  }
  return true;
}

function virtualHostMatch(vh: Obj, p: CompiledPatch): boolean {
  const m = p.match.routeConfiguration?.vhost;
  if (!m) return true;
  return (!m.name || m.name === vh.name) && (!m.domainName || arr(vh.domains).includes(m.domainName as never));
}

const hasRouteMatch = (p: CompiledPatch) => !!p.match.routeConfiguration?.vhost?.route;

function routeMatch(r: Obj, p: CompiledPatch): boolean {
  const m = p.match.routeConfiguration?.vhost?.route;
  if (!m) return true;
  if (m.name && m.name !== r.name) return false;
  const action = m.action ?? "ANY";
  if (action === "ANY") return true;
  if (r.route) return action === "ROUTE";
  if (r.redirect) return action === "REDIRECT";
  if (r.directResponse) return action === "DIRECT_RESPONSE";
  return true;
}

function patchRoutes(ctx: PatchContext, ps: PatchSet, rc: Obj, vh: Obj, ports: GatewayPortMap, used: Used, report: ReportPatch): void {
  const patches = ps.get("HTTP_ROUTE") ?? [];
  const applies = (p: CompiledPatch) => contextMatches(ctx, p) && routeConfigurationMatch(ctx, rc, p, ports) && virtualHostMatch(vh, p);
  let routes: Obj[] = [];
  for (const r of arr(vh.routes)) {
    let keep = true;
    for (const p of patches) {
      if (!applies(p) || !routeMatch(r, p)) continue;
      if (p.operation === "REMOVE") {
        used(p);
        keep = false;
        break;
      }
      if (isMerge(p.operation)) {
        used(p);
        mergeValue(ROUTE, r, p, report);
      }
    }
    if (keep) routes.push(r);
  }
  const value = (p: CompiledPatch) => () => cloneProto(p.value ?? {});
  for (const p of patches) {
    if (!applies(p)) continue;
    let applied = false;
    if (p.operation === "ADD") {
      routes = [...routes, value(p)()];
      applied = true;
    } else if (p.operation === "INSERT_AFTER") {
      if (!hasRouteMatch(p)) ({ list: routes, applied } = { list: [...routes, value(p)()], applied: true });
      else ({ list: routes, applied } = insertAfter(routes, (r) => routeMatch(r, p), value(p)));
    } else if (p.operation === "INSERT_BEFORE") {
      if (!hasRouteMatch(p)) ({ list: routes, applied } = { list: [value(p)(), ...routes], applied: true });
      else ({ list: routes, applied } = insertBefore(routes, (r) => routeMatch(r, p), value(p)));
    } else if (p.operation === "INSERT_FIRST") {
      // With a route match, only when some route matches (Istio); then first in the list.
      if (!hasRouteMatch(p) || routes.some((r) => routeMatch(r, p))) {
        routes = [value(p)(), ...routes];
        applied = true;
      }
    }
    if (applied) used(p);
  }
  if (routes.length > 0 || vh.routes) vh.routes = routes;
}

/** Istio's ApplyRouteConfigurationPatches on one route configuration (in place). */
export function patchRouteConfiguration(ctx: PatchContext, ps: PatchSet, rc: Obj, ports: GatewayPortMap, used: Used, report: ReportPatch): void {
  for (const p of ps.get("ROUTE_CONFIGURATION") ?? []) {
    if (!isMerge(p.operation) || !contextMatches(ctx, p) || !routeConfigurationMatch(ctx, rc, p, ports)) continue;
    used(p);
    mergeValue(ROUTE_CONFIGURATION, rc, p, report);
  }
  const vhPatches = ps.get("VIRTUAL_HOST") ?? [];
  const vhosts: Obj[] = [];
  for (let vh of arr(rc.virtualHosts)) {
    let removed = false;
    for (const p of vhPatches) {
      if (!contextMatches(ctx, p) || !routeConfigurationMatch(ctx, rc, p, ports) || !virtualHostMatch(vh, p)) continue;
      if (p.operation === "REMOVE") {
        used(p);
        removed = true;
        break;
      }
      if (isMerge(p.operation)) {
        used(p);
        mergeValue(VIRTUAL_HOST, vh, p, report);
      } else if (p.operation === "REPLACE") {
        used(p);
        vh = cloneProto(p.value ?? {});
      }
    }
    if (removed) continue;
    patchRoutes(ctx, ps, rc, vh, ports, used, report);
    vhosts.push(vh);
  }
  for (const p of vhPatches) {
    if (p.operation !== "ADD" || !contextMatches(ctx, p) || !routeConfigurationMatch(ctx, rc, p, ports)) continue;
    used(p);
    vhosts.push(cloneProto(p.value ?? {}));
  }
  if (vhosts.length > 0 || rc.virtualHosts) rc.virtualHosts = vhosts;
}
