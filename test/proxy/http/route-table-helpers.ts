// What the route table tests share: request views, small RouteConfiguration builders, the cluster a
// request routes to, and the XdsConfigError a configuration is rejected with.
import assert from "node:assert/strict";
import type { Route, RouteConfiguration, RouteMatch, VirtualHost } from "../../../src/envoy/types.js";
import { pickWeightedCluster } from "../../../src/proxy/http/route-actions.js";
import { RouteTable, type CompiledRoute, type RequestView } from "../../../src/proxy/http/route-table.js";
import { type RouteActionConfig } from "../../../src/proxy/http/route-config.js";
import { XdsConfigError } from "../../../src/proxy/xds-error.js";

export function req(authority: string, path = "/", headers: Record<string, string | string[]> = {}, method = "GET", scheme?: string): RequestView {
  const lower: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v;
  return {
    authority,
    path,
    method,
    scheme,
    header(name: string): string | undefined {
      const v = lower[name];
      return Array.isArray(v) ? v.join(",") : v;
    },
  };
}

export function table(virtualHosts: VirtualHost[], extra: RouteConfiguration = {}): RouteTable {
  return RouteTable.compile({ name: "test", virtualHosts, ...extra });
}

export function vhost(name: string, domains: string[], routes: Route[] = [{ match: { prefix: "/" }, route: { cluster: name } }], extra: VirtualHost = {}): VirtualHost {
  return { name, domains, routes, ...extra };
}

/** One vhost ("*"), one route per entry, each routing to a cluster named after its index. */
export function routesTable(matches: RouteMatch[], extra: RouteConfiguration = {}): RouteTable {
  return table([vhost("all", ["*"], matches.map((match, i) => ({ name: `r${i}`, match, route: { cluster: `c${i}` } })))], extra);
}

export function clusterOf(t: RouteTable, r: RequestView, random01?: number): string | undefined {
  const m = t.match(r, random01);
  if (!m) return undefined;
  const a = m.route.action;
  return a.kind === "route" ? pickWeightedCluster(a, 0, r) : a.kind;
}

export function routeAction(route: CompiledRoute): RouteActionConfig {
  assert.equal(route.action.kind, "route");
  return route.action as RouteActionConfig;
}

export function firstRoute(t: RouteTable, vh = 0, r = 0): CompiledRoute {
  return t.virtualHosts[vh].routes[r];
}

export function compileError(rc: RouteConfiguration): XdsConfigError {
  try {
    RouteTable.compile(rc);
  } catch (err) {
    assert.ok(err instanceof XdsConfigError, `expected XdsConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected the RouteConfiguration to be rejected");
}
