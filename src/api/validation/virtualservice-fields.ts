// Field checks every part of VirtualService validation uses (Istio's validation helpers, reporting to
// the ValidationContext): duration precision, regexes, string matches, gateway names, source labels,
// ports, subnets, destinations and weighted destinations.
import type { Destination, HTTPRoute, StringMatch } from "../resource.js";
import { checkFQDN, checkIPOrCIDR, checkLabels, checkPort, checkRegex, checkWildcardDomain, isDNS1123Label, parseDuration } from "./common.js";
import type { ValidationContext } from "./context.js";
import { checkHeaderOps } from "./virtualservice-headers.js";

type HeaderOps = NonNullable<HTTPRoute["headers"]>;

const MAX_REGEX_LENGTH = 1024;

/**
 * A duration field the CRD already bounds with CEL (`>= 1ms`): only Istio's extra requirement is
 * left, whole milliseconds (or whole seconds where `seconds` is set).
 */
export function checkDurationPrecision(ctx: ValidationContext, path: string, value: string | undefined, seconds = false): void {
  if (value === undefined) return;
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.error("TSMESH_INVALID_DURATION", path, `invalid duration ${JSON.stringify(value)}; use a form like "500ms", "1.5s" or "1m30s"`);
    return;
  }
  if (ms < 1) return; // the schema's CEL rule reports this one
  if (seconds && Math.abs(ms / 1000 - Math.round(ms / 1000)) > 1e-9)
    ctx.error("TSMESH_INVALID_DURATION", path, `duration ${JSON.stringify(value)} must be whole seconds (it is used with seconds precision)`);
  else if (Math.abs(ms - Math.round(ms)) > 1e-9)
    ctx.error("TSMESH_INVALID_DURATION", path, `duration ${JSON.stringify(value)} must be whole milliseconds; only durations to ms precision are supported`);
}

/** Istio's ValidateIPSubnet: an IP address or a CIDR block. */
export function checkSubnet(ctx: ValidationContext, path: string, subnet: string): void {
  const e = checkIPOrCIDR(subnet);
  if (e) ctx.error("TSMESH_INVALID_ADDRESS", path, `${e}; expected an IP address or CIDR block such as 10.0.0.0/16`);
}

export function checkStringMatch(ctx: ValidationContext, sm: StringMatch | undefined, path: string, allowEmptyPrefix = false): void {
  if (!sm) return;
  if (sm.prefix !== undefined && sm.prefix === "" && !allowEmptyPrefix)
    ctx.error("TSMESH_INVALID_MATCH", `${path}.prefix`, "prefix match must not be empty; remove the match to match everything");
  if (sm.regex !== undefined) checkRegexField(ctx, sm.regex, `${path}.regex`);
}

export function checkRegexField(ctx: ValidationContext, re: string, path: string): void {
  if (re === "") {
    ctx.error("TSMESH_INVALID_REGEX", path, "regex must not be empty");
    return;
  }
  if (re.length > MAX_REGEX_LENGTH) {
    ctx.error("TSMESH_INVALID_REGEX", path, `regex is too large (${re.length} characters); the maximum is ${MAX_REGEX_LENGTH}`);
    return;
  }
  const e = checkRegex(re);
  if (e) ctx.error("TSMESH_INVALID_REGEX", path, `${e}; Istio uses RE2 syntax (https://github.com/google/re2/wiki/Syntax)`);
}

/** Gateway references: `namespace/name`, `mesh`, or the legacy `name.namespace[.svc.cluster.local]` form. */
export function checkGatewayNames(ctx: ValidationContext, names: string[] | undefined, path: string): void {
  (names ?? []).forEach((name, i) => {
    const p = `${path}[${i}]`;
    const slash = name.indexOf("/");
    if (slash < 0) {
      if (name.includes(".")) {
        const parts = name.split(".");
        ctx.warn("TSMESH_DEPRECATED", p, `gateway reference ${JSON.stringify(name)} uses the legacy name.namespace form; prefer ${JSON.stringify(`${parts[1]}/${parts[0]}`)}`);
      }
      const e = checkFQDN(name);
      if (e) ctx.error("TSMESH_INVALID_VALUE", p, `invalid gateway reference: ${e}; use "namespace/name" or "mesh"`);
      return;
    }
    const ns = name.slice(0, slash);
    const gw = name.slice(slash + 1);
    if (ns === "" || gw === "") {
      ctx.error("TSMESH_INVALID_VALUE", p, `gateway reference ${JSON.stringify(name)} must be "namespace/name" with both parts non-empty`);
      return;
    }
    if (!isDNS1123Label(ns)) ctx.error("TSMESH_INVALID_VALUE", p, `invalid namespace ${JSON.stringify(ns)} in gateway reference ${JSON.stringify(name)}`);
    if (!isDNS1123Label(gw)) ctx.error("TSMESH_INVALID_VALUE", p, `invalid gateway name ${JSON.stringify(gw)} in gateway reference ${JSON.stringify(name)}`);
  });
}

export function checkSourceLabels(ctx: ValidationContext, labels: Record<string, string> | undefined, path: string): void {
  for (const e of checkLabels(labels)) ctx.error("TSMESH_INVALID_SELECTOR", path, e);
}

export function checkMatchPort(ctx: ValidationContext, port: number | undefined, path: string): void {
  if (port === undefined || port === 0) return;
  const e = checkPort(port);
  if (e) ctx.error("TSMESH_INVALID_PORT", path, e);
}

export function checkDestination(ctx: ValidationContext, d: Destination | undefined, path: string): void {
  if (!d) return;
  if (d.host === "*") ctx.error("TSMESH_INVALID_HOST", `${path}.host`, `destination host "*" is not allowed; name a service, e.g. "reviews" or "reviews.default.svc.cluster.local"`);
  else {
    const e = checkWildcardDomain(d.host);
    if (e) ctx.error("TSMESH_INVALID_HOST", `${path}.host`, `invalid destination host: ${e}`);
  }
  if (d.subset !== undefined && d.subset !== "" && !isDNS1123Label(d.subset))
    ctx.error("TSMESH_INVALID_VALUE", `${path}.subset`, `subset name ${JSON.stringify(d.subset)} is invalid; it must be a DNS-1123 label (letters, digits, '-')`);
  if (d.port !== undefined) {
    const e = checkPort(d.port.number ?? 0);
    if (e) ctx.error("TSMESH_INVALID_PORT", `${path}.port.number`, e);
  }
}

export function checkWeights(
  ctx: ValidationContext,
  routes: Array<{ destination: Destination; weight?: number; headers?: HeaderOps }> | undefined,
  path: string,
): void {
  if (!routes) return;
  let total = 0;
  routes.forEach((r, i) => {
    const p = `${path}[${i}]`;
    checkHeaderOps(ctx, r.headers, `${p}.headers`);
    checkDestination(ctx, r.destination, `${p}.destination`);
    const w = r.weight ?? 0;
    if (w < 0) ctx.error("TSMESH_INVALID_WEIGHT", `${p}.weight`, `weight ${w} must not be negative`);
    total += w;
  });
  if (routes.length > 1 && total === 0)
    ctx.error("TSMESH_INVALID_WEIGHT", path, `the ${routes.length} destinations have a total weight of 0; give at least one of them a positive weight`);
}
