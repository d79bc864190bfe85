// Forms every proxyless gRPC release accepts. The shared route builder (httproute.ts) writes Envoy's
// current forms; gRPC clients of different ages parse different subsets of them and NACK the rest,
// so the proxyless generator rewrites its output into what all of them take (checked against
// gRPC C-core, grpc-js-xds, grpc-go and grpc-java parsers from 2021 on):
// - header matchers in HeaderMatcher's original fields (exact_match, prefix_match, safe_regex_match):
//   string_match reached gRPC only with gRFC A63 (C-core 1.56, grpc-go 1.56, grpc-java 1.53,
//   grpc-js-xds 1.9), older releases NACK it; every release, the newest included, takes the old fields;
// - WeightedCluster.total_weight set to the sum of the weights: C-core 1.51, older grpc-go and
//   grpc-js-xds up to 1.8 NACK weights that do not add up to total_weight (100 when unset), and
//   grpc-js-xds up to 1.10 picks over total_weight (Istio's weights need not add up to 100);
// - consistentHash.useSourceIp as the channel-id hash (filter_state `io.grpc.channel_id`, gRFC A42):
//   a gRPC client has no connection source address to hash, so connection_properties hashes nothing;
// - withoutHeaders: gRPC has no treat_missing_header_as_empty (a missing header never matches), so
//   "missing or different" becomes one route per combination;
// - routes gRPC never applies (query-parameter matches, paths no `/service/method` can match) are
//   left out and reported, as gRPC skips them: C-core 1.51 NACKs a virtual host with none left.
// Clusters: ring hash only for clients that have it (grpc-js-xds before 1.10 NACKs any lb_policy but
// ROUND_ROBIN); the client is known by the user agent its node sends.
import type { envoy } from "../../envoy/types.js";
import type { Cluster, Route } from "../../envoy/types.js";

type HeaderMatcher = envoy.config.route.v3.HeaderMatcher;
type StringMatcher = envoy.type.matcher.v3.StringMatcher;
type RouteMatch = envoy.config.route.v3.RouteMatch;
type RouteAction = envoy.config.route.v3.RouteAction;
type HashPolicy = envoy.config.route.v3.RouteAction.HashPolicy;

/** gRFC A42's filter-state key: the same hash for every call on one channel. */
export const GRPC_CHANNEL_ID_KEY = "io.grpc.channel_id";

/** More `withoutHeaders` conditions than this are not expanded (2^N routes); reported instead. */
const MAX_EXPANDED_ABSENT_HEADERS = 3;

// ---------------------------------------------------------------------------------------------
// Client versions

/** What a proxyless client supports beyond the forms every release takes. */
export interface GrpcClientSupport {
  /** RING_HASH clusters (gRFC A42). */
  ringHash: boolean;
}

/** First release with ring hash per user_agent_name prefix (C-core's came in 1.40, older than we serve). */
const RING_HASH_SINCE: ReadonlyArray<[agent: string, version: number[]]> = [
  ["gRPC Node Pure JS", [1, 10, 0]],
  ["gRPC Go", [1, 41, 0]],
  ["gRPC Java", [1, 40, 1]],
];

function parseVersion(v: string): number[] | undefined {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

function olderThan(v: number[], min: number[]): boolean {
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return v[i] < min[i];
  return false;
}

/**
 * A client's support from its node's user_agent_name / user_agent_version (as gRPC sends them:
 * "gRPC Node Pure JS" "1.9.2", "gRPC Go" "1.40.0", "gRPC Java" "1.39.0", "gRPC C-core linux Python"
 * "C-core 29.0.0 Python 1.51.1"). Unknown or unparsable agents are taken as current releases.
 */
export function grpcClientSupport(userAgentName: string, userAgentVersion: string): GrpcClientSupport {
  const version = parseVersion(userAgentVersion);
  const since = RING_HASH_SINCE.find(([agent]) => userAgentName.startsWith(agent))?.[1];
  return { ringHash: !(version && since && olderThan(version, since)) };
}

/** A cluster as the client can take it: RING_HASH becomes round robin when the client lacks ring hash. */
export function proxylessCluster(cluster: Cluster, support: GrpcClientSupport): Cluster {
  if (support.ringHash || cluster.lbPolicy !== "RING_HASH") return cluster;
  const { lbPolicy: _lb, ringHashLbConfig: _ring, ...rest } = cluster;
  return rest;
}

// ---------------------------------------------------------------------------------------------
// Routes

/** StringMatcher (as httproute.ts writes it) → HeaderMatcher's original oneof field. */
function legacyHeaderMatch(sm: StringMatcher): HeaderMatcher | undefined {
  if (typeof sm.exact === "string") return { exactMatch: sm.exact };
  if (typeof sm.prefix === "string") return { prefixMatch: sm.prefix };
  if (typeof sm.suffix === "string") return { suffixMatch: sm.suffix };
  if (sm.safeRegex) return { safeRegexMatch: sm.safeRegex };
  return undefined;
}

/** Does the header condition accept the empty value (what Envoy tests a missing header against)? */
function matchesEmpty(sm: StringMatcher): boolean {
  if (typeof sm.exact === "string") return sm.exact === "";
  if (typeof sm.prefix === "string") return sm.prefix === "";
  if (typeof sm.suffix === "string") return sm.suffix === "";
  const regex = sm.safeRegex?.regex;
  if (typeof regex !== "string") return false;
  try {
    return new RegExp(`^(?:${regex})$`, "u").test("");
  } catch {
    return false;
  }
}

/** One header matcher in the original fields; `treatMissingHeaderAsEmpty` dropped (gRPC ignores it). */
function legacyHeader(h: HeaderMatcher): HeaderMatcher {
  const { stringMatch, treatMissingHeaderAsEmpty: _t, ...rest } = h;
  if (!stringMatch) return rest;
  const { name, ...flags } = rest;
  return { name, ...legacyHeaderMatch(stringMatch), ...flags };
}

/**
 * The header lists that together match what Envoy matches: a `withoutHeaders` value condition
 * (invert + treat_missing_header_as_empty) holds when the header is missing or differs, which gRPC
 * can only say as two routes (missing: present_match inverted; present and different).
 */
function headerVariants(headers: readonly HeaderMatcher[], where: string, errors: string[]): HeaderMatcher[][] {
  let variants: HeaderMatcher[][] = [[]];
  const absentable = headers.filter((h) => h.invertMatch && h.treatMissingHeaderAsEmpty && h.stringMatch).length;
  const expand = absentable <= MAX_EXPANDED_ABSENT_HEADERS;
  if (!expand) errors.push(`${where}: more than ${MAX_EXPANDED_ABSENT_HEADERS} withoutHeaders values: for gRPC clients a missing header does not match them`);
  for (const h of headers) {
    const legacy = legacyHeader(h);
    if (expand && h.invertMatch && h.treatMissingHeaderAsEmpty && h.stringMatch && !matchesEmpty(h.stringMatch)) {
      const missing: HeaderMatcher = { name: h.name, presentMatch: true, invertMatch: true };
      variants = variants.flatMap((v) => [
        [...v, legacy],
        [...v, missing],
      ]);
    } else {
      variants = variants.map((v) => [...v, legacy]);
    }
  }
  return variants;
}

/** Can this path condition match a gRPC method path `/service/method`? (gRPC ignores routes that cannot.) */
function matchesGrpcPaths(match: RouteMatch): boolean {
  if (typeof match.prefix === "string") {
    const p = match.prefix;
    if (p === "") return true;
    if (!p.startsWith("/")) return false;
    const parts = p.slice(1).split("/");
    return parts.length <= 2 && !(parts.length === 2 && parts[0] === "");
  }
  if (typeof match.path === "string") {
    const parts = match.path.slice(1).split("/");
    return match.path.startsWith("/") && parts.length === 2 && parts[0] !== "" && parts[1] !== "";
  }
  return true;
}

/** Route hash policies a gRPC client acts on: source IP becomes the channel id. */
function proxylessHashPolicies(policies: readonly HashPolicy[], where: string, errors: string[]): HashPolicy[] {
  return policies.map((p) => {
    if (p.connectionProperties?.sourceIp) {
      const out: HashPolicy = { filterState: { key: GRPC_CHANNEL_ID_KEY } };
      if (p.terminal) out.terminal = p.terminal;
      return out;
    }
    if (p.cookie || p.queryParameter) {
      errors.push(`${where}: gRPC clients hash only on headers and the channel (consistentHash ${p.cookie ? "httpCookie" : "httpQueryParameterName"} gives no affinity)`);
    }
    return p;
  });
}

function proxylessAction(action: RouteAction, where: string, errors: string[]): RouteAction {
  const out: RouteAction = { ...action };
  const wc = action.weightedClusters;
  if (wc) {
    const clusters = wc.clusters ?? [];
    const total = clusters.reduce((sum, c) => sum + Number(c.weight?.value ?? 0), 0);
    out.weightedClusters = { ...wc, totalWeight: { value: total } };
  }
  const hp = action.hashPolicy;
  if (hp) out.hashPolicy = proxylessHashPolicies(hp, where, errors);
  return out;
}

/**
 * Routes rewritten into the forms every proxyless gRPC release accepts (see the module header);
 * routes gRPC never applies are left out, each with a reason in `errors`.
 */
export function proxylessRoutes(routes: readonly Route[], errors: string[] = []): Route[] {
  const out: Route[] = [];
  for (const r of routes) {
    const where = `route ${String(r.name ?? r.decorator?.operation ?? "")}`.trimEnd();
    const match: RouteMatch = r.match ?? {};
    if (match.queryParameters?.length) {
      errors.push(`${where}: gRPC calls have no query parameters; route left out for gRPC clients`);
      continue;
    }
    if (!matchesGrpcPaths(match)) {
      errors.push(`${where}: no gRPC method path /service/method can match it; route left out for gRPC clients`);
      continue;
    }
    const route: Route = r.route ? { ...r, route: proxylessAction(r.route, where, errors) } : { ...r };
    const headers = match.headers;
    if (!headers?.length) {
      out.push(route);
      continue;
    }
    for (const hs of headerVariants(headers, where, errors)) out.push({ ...route, match: { ...match, headers: hs } });
  }
  return out;
}
