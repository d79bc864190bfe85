// The descriptors a request produces for a rate-limit filter from its route (Envoy's
// populateDescriptors in the local and global rate-limit filters): the route's rate_limits of the
// filter's stage, and the virtual host's as the vh_rate_limits option says (INCLUDE, IGNORE, or
// OVERRIDE: the virtual host's only when the route has none; the route's deprecated
// include_vh_rate_limits forces INCLUDE).
import type * as http from "node:http";
import type { FilterCallbacks } from "../http/filter.js";
import type { ActionInput, RateLimitDescriptor, RateLimitPolicy } from "./actions.js";

export type VhRateLimits = "OVERRIDE" | "INCLUDE" | "IGNORE";

function first(h: http.OutgoingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v === undefined ? undefined : String(v);
}

function joined(h: http.OutgoingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(",") : v === undefined ? undefined : String(v);
}

/** What the actions read of the request on `cb`. */
export function actionInput(cb: FilterCallbacks, localCluster: string): ActionInput {
  const req = cb.request;
  const pseudo = (name: string): string | undefined =>
    name === ":path" ? req.path : name === ":authority" ? req.authority : name === ":method" ? req.method : name === ":scheme" ? req.scheme : undefined;
  const r = cb.route();
  return {
    header: (n) => (n.startsWith(":") ? pseudo(n) : first(req.headers, n)),
    joinedHeader: (n) => (n.startsWith(":") ? pseudo(n) : joined(req.headers, n)),
    path: req.path,
    remote: req.remote,
    localCluster,
    routeCluster: r?.cluster,
    routeMetadata: r?.route.metadata,
    dynamicMetadata: cb.dynamicMetadata,
  };
}

/**
 * Entries of `policy` at `stage` add their descriptors. `skipDisabled`: entries with a disable_key
 * are left out (the local filter; the global one keeps them, their runtime key being on by default).
 */
export function populate(policy: RateLimitPolicy, stage: number, input: ActionInput, skipDisabled: boolean, out: RateLimitDescriptor[]): void {
  for (const e of policy.applicable(stage)) {
    if (skipDisabled && e.disableKey) continue;
    e.populate(input, out);
  }
}

/** The route's and virtual host's descriptors for a filter at `stage`. */
export function routeDescriptors(cb: FilterCallbacks, stage: number, vh: VhRateLimits, localCluster: string, skipDisabled: boolean): RateLimitDescriptor[] {
  const out: RateLimitDescriptor[] = [];
  const r = cb.route();
  const action = r?.route.action;
  if (r === undefined || action?.kind !== "route") return out;
  const input = actionInput(cb, localCluster);
  populate(action.rateLimits, stage, input, skipDisabled, out);
  const mode: VhRateLimits = action.includeVhRateLimits ? "INCLUDE" : vh;
  const vhPolicy = r.route.vhost.rateLimits;
  if (mode === "INCLUDE" || (mode === "OVERRIDE" && action.rateLimits.empty)) populate(vhPolicy, stage, input, skipDisabled, out);
  return out;
}
