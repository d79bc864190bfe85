// Istio's semantic validation for VirtualService (pkg/config/validation: ValidateVirtualService,
// validateHTTPRoute and friends). Runs after the CRD schema passed, so enums, oneOfs, CEL duration
// minimums and numeric bounds are already checked; this adds what only Istio's webhook checks.
import type { Destination, HTTPMatchRequest, HTTPRoute, Resource, StringMatch, TCPRoute, TLSRoute } from "../resource.js";
import { GRPC_STATUS_NAMES } from "../../core/grpc.js";
import {
  checkFQDN,
  checkIPOrCIDR,
  checkLabels,
  checkPort,
  checkRegex,
  checkWildcardDomain,
  isDNS1123Label,
  isIPAddress,
  parseDuration,
} from "./common.js";
import type { SemanticValidator, ValidationContext } from "./context.js";
import { validateExportTo } from "./exportto.js";
import { hostIsSubsetOf, hostsOverlap, MESH_GATEWAY } from "../hosts.js";

type VirtualServiceSpec = Resource<"VirtualService">["spec"];
type HeaderOps = NonNullable<HTTPRoute["headers"]>;

const MAX_REGEX_LENGTH = 1024;
const KB = 1024;
const MB = 1024 * KB;

// ---------------------------------------------------------------------------------------------
// Small generic checks shared with gateway.ts (kept here rather than in common.ts).

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
function checkSubnet(ctx: ValidationContext, path: string, subnet: string): void {
  const e = checkIPOrCIDR(subnet);
  if (e) ctx.error("TSMESH_INVALID_ADDRESS", path, `${e}; expected an IP address or CIDR block such as 10.0.0.0/16`);
}

function isJWTClaimRoute(name: string): boolean {
  if (!name.toLowerCase().startsWith("@request.auth.claims")) return false;
  const rest = name.slice("@request.auth.claims".length);
  return (rest.startsWith(".") && rest.length > 1) || (rest.startsWith("[") && rest.endsWith("]") && rest.length > 2);
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~A-Za-z0-9]+$/;
const PSEUDO_HEADERS = new Set([":method", ":scheme", ":authority", ":path", ":status"]);
// Control characters other than tab are not allowed in a header value.
// eslint-disable-next-line no-control-regex
const HEADER_VALUE_CHARS = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;

// States of Envoy's header-value parser (source/common/router/header_parser.cc).
const S = { Literal: 0, VarName: 1, ExpectArray: 2, ExpectString: 3, String: 4, ExpectDelimOrEnd: 5, ExpectArgsEnd: 6, ExpectVarEnd: 7 } as const;
type ParserState = (typeof S)[keyof typeof S];

/** Envoy's custom-header value syntax (`%VAR%`, `%VAR(args)%`, `%%`), as Istio's port of header_parser.cc checks it. */
export function checkHeaderValue(value: string): string | undefined {
  if (!HEADER_VALUE_CHARS.test(value)) return `header value ${JSON.stringify(value)} contains control characters`;
  let state: ParserState = S.Literal;
  for (let pos = 0; pos < value.length; pos++) {
    const ch = value[pos];
    const hasNext = pos + 1 < value.length;
    switch (state) {
      case S.Literal:
        if (ch !== "%") break;
        if (!hasNext) return `header value ${JSON.stringify(value)} has an unescaped '%'; write '%%' for a literal percent sign`;
        if (value[pos + 1] === "%") pos++;
        else state = S.VarName;
        break;
      case S.VarName:
        if (ch === "%") state = S.Literal;
        else if (ch === "(") state = S.ExpectArray;
        break;
      case S.ExpectArray:
        if (ch === "[") state = S.ExpectString;
        else if (ch !== " ") state = S.String;
        break;
      case S.ExpectDelimOrEnd:
        if (ch === ",") state = S.ExpectString;
        else if (ch === "]") state = S.ExpectArgsEnd;
        else if (ch !== " ") return `header value ${JSON.stringify(value)}: expected ',', ']' or a space in a %VAR([...])% argument list`;
        break;
      case S.ExpectString:
        if (ch === '"') state = S.String;
        else if (ch !== " ") return `header value ${JSON.stringify(value)}: expected '"' in a %VAR([...])% argument list`;
        break;
      case S.String:
        if (ch === "\\") {
          if (!hasNext) return `header value ${JSON.stringify(value)}: unterminated backslash in a %VAR(...)% argument`;
          pos++;
        } else if (ch === ")") state = S.ExpectVarEnd;
        else if (ch === '"') state = S.ExpectDelimOrEnd;
        break;
      case S.ExpectArgsEnd:
        if (ch === ")") state = S.ExpectVarEnd;
        else if (ch !== " ") return `header value ${JSON.stringify(value)}: expected ')' to close a %VAR(...)% expression`;
        break;
      case S.ExpectVarEnd:
        if (ch === "%") state = S.Literal;
        else if (ch !== " ") return `header value ${JSON.stringify(value)}: expected '%' to close a %VAR(...)% expression`;
        break;
    }
  }
  if (state !== S.Literal) return `header value ${JSON.stringify(value)} has an unterminated %VAR% expression; write '%%' for a literal percent sign`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------

function isAuthorityHeader(name: string): boolean {
  const n = name.toLowerCase();
  return n === ":authority" || n === "host";
}

/** Request add/set: pseudo-headers are off limits, except :authority / Host (rewrites the authority). */
function checkRequestSetName(name: string): string | undefined {
  if (name === "") return "header name cannot be empty";
  if ((name.startsWith(":") || name.toLowerCase() === "host") && !isAuthorityHeader(name))
    return `invalid header ${JSON.stringify(name)}: pseudo-headers (":" prefix) cannot be set`;
  return undefined;
}

/** Request remove and any response operation: neither Host nor pseudo-headers. */
function checkHeaderOperationName(name: string): string | undefined {
  if (name === "") return "header name cannot be empty";
  if (name.toLowerCase() === "host") return `invalid header ${JSON.stringify(name)}: the Host header cannot be modified here (use rewrite.authority)`;
  if (name.startsWith(":")) return `invalid header ${JSON.stringify(name)}: pseudo-headers (":" prefix) cannot be modified`;
  return undefined;
}

function checkHeaderOps(ctx: ValidationContext, headers: HeaderOps | undefined, path: string): void {
  if (!headers) return;
  for (const dir of ["request", "response"] as const) {
    const ops = headers[dir];
    if (!ops) continue;
    const nameCheck = dir === "request" ? checkRequestSetName : checkHeaderOperationName;
    for (const op of ["set", "add"] as const) {
      for (const [name, value] of Object.entries(ops[op] ?? {})) {
        const p = `${path}.${dir}.${op}[${name}]`;
        const e = nameCheck(name);
        if (e) ctx.error("TSMESH_INVALID_VALUE", p, e);
        const ve = typeof value === "string" ? checkHeaderValue(value) : undefined;
        if (ve) ctx.error("TSMESH_INVALID_VALUE", p, ve);
      }
    }
    (ops.remove ?? []).forEach((name, i) => {
      const e = checkHeaderOperationName(name);
      if (e) ctx.error("TSMESH_INVALID_VALUE", `${path}.${dir}.remove[${i}]`, e);
    });
  }
}

/** Only one place may set the authority: rewrite.authority or a request set/add of Host / :authority. */
function checkAuthorityRewrite(ctx: ValidationContext, route: HTTPRoute, path: string): void {
  let current = route.rewrite?.authority ?? "";
  let from = "rewrite.authority";
  for (const op of ["set", "add"] as const) {
    for (const [name, value] of Object.entries(route.headers?.request?.[op] ?? {})) {
      if (!isAuthorityHeader(name)) continue;
      if (current !== "") {
        ctx.error(
          "TSMESH_INVALID_ROUTE",
          `${path}.headers.request.${op}[${name}]`,
          `the authority is already set to ${JSON.stringify(current)} by ${from}; it cannot also be set to ${JSON.stringify(value)} here`,
        );
        return;
      }
      current = value;
      from = `headers.request.${op}[${name}]`;
    }
  }
}

function checkStringMatch(ctx: ValidationContext, sm: StringMatch | undefined, path: string, allowEmptyPrefix = false): void {
  if (!sm) return;
  if (sm.prefix !== undefined && sm.prefix === "" && !allowEmptyPrefix)
    ctx.error("TSMESH_INVALID_MATCH", `${path}.prefix`, "prefix match must not be empty; remove the match to match everything");
  if (sm.regex !== undefined) checkRegexField(ctx, sm.regex, `${path}.regex`);
}

function checkRegexField(ctx: ValidationContext, re: string, path: string): void {
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
function checkGatewayNames(ctx: ValidationContext, names: string[] | undefined, path: string): void {
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

function checkSourceLabels(ctx: ValidationContext, labels: Record<string, string> | undefined, path: string): void {
  for (const e of checkLabels(labels)) ctx.error("TSMESH_INVALID_SELECTOR", path, e);
}

function checkMatchPort(ctx: ValidationContext, port: number | undefined, path: string): void {
  if (port === undefined || port === 0) return;
  const e = checkPort(port);
  if (e) ctx.error("TSMESH_INVALID_PORT", path, e);
}

function checkDestination(ctx: ValidationContext, d: Destination | undefined, path: string): void {
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

function checkWeights(
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

function checkMatchRequest(ctx: ValidationContext, m: HTTPMatchRequest, path: string): void {
  for (const [field, map] of [
    ["headers", m.headers],
    ["withoutHeaders", m.withoutHeaders],
  ] as const) {
    for (const [name, sm] of Object.entries(map ?? {})) {
      const p = `${path}.${field}[${name}]`;
      if (name === "") ctx.error("TSMESH_INVALID_MATCH", p, "header name cannot be empty");
      else if (!isJWTClaimRoute(name) && !PSEUDO_HEADERS.has(name) && !HEADER_NAME.test(name))
        ctx.error("TSMESH_INVALID_MATCH", p, `${JSON.stringify(name)} is not a valid header name`);
      else if (!isJWTClaimRoute(name) && name !== name.toLowerCase())
        ctx.warn("TSMESH_SUSPICIOUS", p, `header names in matches should be lowercase; use ${JSON.stringify(name.toLowerCase())}`);
      // In withoutHeaders, `regex: "*"` means "header present", not a regex.
      if (field === "withoutHeaders" && sm?.regex === "*") continue;
      checkStringMatch(ctx, sm, p);
    }
  }
  // Envoy allows an empty URI prefix (matches everything), not an empty scheme/method/authority prefix.
  checkStringMatch(ctx, m.uri, `${path}.uri`, true);
  checkStringMatch(ctx, m.scheme, `${path}.scheme`);
  checkStringMatch(ctx, m.method, `${path}.method`);
  checkStringMatch(ctx, m.authority, `${path}.authority`);
  for (const [name, sm] of Object.entries(m.queryParams ?? {})) checkStringMatch(ctx, sm, `${path}.queryParams[${name}]`);
  checkMatchPort(ctx, m.port, `${path}.port`);
  checkSourceLabels(ctx, m.sourceLabels, `${path}.sourceLabels`);
  checkGatewayNames(ctx, m.gateways, `${path}.gateways`);
  if (m.sourceNamespace !== undefined && m.sourceNamespace !== "" && !isDNS1123Label(m.sourceNamespace))
    ctx.error("TSMESH_INVALID_MATCH", `${path}.sourceNamespace`, `sourceNamespace ${JSON.stringify(m.sourceNamespace)} is not a valid namespace name`);
}

/** Route vs redirect vs directResponse vs delegate: which combinations make sense. */
function checkRouteConflicts(ctx: ValidationContext, r: HTTPRoute, path: string, inDelegateVS: boolean): void {
  const bad = (field: string, msg: string) => ctx.error("TSMESH_INVALID_ROUTE", `${path}.${field}`, msg);
  if (!inDelegateVS && r.delegate) {
    // A root route hands the request to the delegate VirtualService; it may not route itself.
    if (r.redirect) bad("redirect", "an HTTP route with delegate must not also specify redirect");
    if (r.route) bad("route", "an HTTP route with delegate must not also specify route");
    return;
  }
  if (inDelegateVS && r.delegate) bad("delegate", "a delegate VirtualService (one without hosts) cannot delegate again");
  const hasRoute = (r.route?.length ?? 0) > 0;
  if (r.redirect) {
    if (hasRoute) bad("route", "an HTTP route cannot have both route and redirect");
    if (r.fault) bad("fault", "an HTTP route cannot have both fault and redirect");
    if (r.rewrite) bad("rewrite", "an HTTP route cannot have both rewrite and redirect");
    if (r.directResponse) bad("directResponse", "an HTTP route cannot have both directResponse and redirect");
  } else if (r.directResponse) {
    if (hasRoute) bad("route", "an HTTP route cannot have both route and directResponse");
    if (r.fault) bad("fault", "an HTTP route cannot have both fault and directResponse");
    if (r.rewrite) bad("rewrite", "an HTTP route cannot have both rewrite and directResponse");
  } else if (!hasRoute) {
    ctx.error("TSMESH_INVALID_ROUTE", path, "an HTTP route needs one of route, redirect, directResponse or delegate");
  }
  if (r.mirror && (r.mirrors?.length ?? 0) > 0) bad("mirrors", "an HTTP route cannot have both mirror and mirrors; move mirror into mirrors");
}

function checkPercentage(ctx: ValidationContext, value: number | undefined, path: string, what: string): void {
  if (value === undefined) return;
  if (value < 0 || value > 100 || (value > 0 && value < 0.0001))
    ctx.error("TSMESH_INVALID_POLICY", path, `${what} percentage ${value} must be 0 or in the range 0.0001..100`);
}

function checkMirrorPercent(ctx: ValidationContext, value: number | undefined, path: string): void {
  if (value === undefined) return;
  if (value < 0 || value > 100) ctx.error("TSMESH_INVALID_POLICY", path, `mirror percentage ${value} must be in the range 0..100`);
}

const GRPC_STATUS = new Set(GRPC_STATUS_NAMES);

function checkHTTPStatus(ctx: ValidationContext, status: number, path: string): void {
  if (status < 200 || status > 599) ctx.error("TSMESH_INVALID_VALUE", path, `HTTP status ${status} is not in the range 200..599`);
}

function checkFault(ctx: ValidationContext, fault: HTTPRoute["fault"], path: string): void {
  if (!fault) return;
  if (!fault.abort && !fault.delay) ctx.error("TSMESH_INVALID_POLICY", path, "fault injection needs an abort and/or a delay");
  const { abort, delay } = fault;
  if (abort) {
    const p = `${path}.abort`;
    checkPercentage(ctx, abort.percentage?.value, `${p}.percentage.value`, "abort");
    if (abort.grpcStatus !== undefined) {
      if (!GRPC_STATUS.has(abort.grpcStatus))
        ctx.error("TSMESH_INVALID_POLICY", `${p}.grpcStatus`, `gRPC status ${JSON.stringify(abort.grpcStatus)} is not supported; use a code name such as "NOT_FOUND" or "UNAVAILABLE"`);
    } else if (abort.http2Error !== undefined) {
      ctx.error("TSMESH_INVALID_POLICY", `${p}.http2Error`, "HTTP/2 abort fault injection is not supported; use httpStatus or grpcStatus");
    } else if (abort.httpStatus !== undefined) {
      checkHTTPStatus(ctx, abort.httpStatus, `${p}.httpStatus`);
    } else {
      ctx.warn("TSMESH_SUSPICIOUS", p, "abort is configured without an error type; set httpStatus or grpcStatus");
    }
  }
  if (delay) {
    const p = `${path}.delay`;
    checkPercentage(ctx, delay.percentage?.value, `${p}.percentage.value`, "delay");
    if (delay.percent !== undefined) {
      ctx.warn("TSMESH_DEPRECATED", `${p}.percent`, "delay.percent is deprecated; use delay.percentage.value");
      if (delay.percent < 0 || delay.percent > 100) ctx.error("TSMESH_INVALID_POLICY", `${p}.percent`, `percentage ${delay.percent} is not in the range 0..100`);
    }
    checkDurationPrecision(ctx, `${p}.fixedDelay`, delay.fixedDelay);
    if (delay.exponentialDelay !== undefined) {
      checkDurationPrecision(ctx, `${p}.exponentialDelay`, delay.exponentialDelay);
      ctx.error("TSMESH_INVALID_POLICY", `${p}.exponentialDelay`, "exponentialDelay is not supported; use fixedDelay");
    }
  }
}

const CORS_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*"]);

function checkCors(ctx: ValidationContext, cors: HTTPRoute["corsPolicy"], path: string): void {
  if (!cors) return;
  (cors.allowOrigins ?? []).forEach((o, i) => {
    const p = `${path}.allowOrigins[${i}]`;
    const value = o.exact ?? o.prefix ?? o.regex;
    if (value === undefined || value === "") ctx.error("TSMESH_INVALID_MATCH", p, "an allowed origin needs a non-empty exact, prefix or regex");
    else if (o.regex !== undefined) checkRegexField(ctx, o.regex, `${p}.regex`);
  });
  if (cors.allowOrigin !== undefined) ctx.warn("TSMESH_DEPRECATED", `${path}.allowOrigin`, "corsPolicy.allowOrigin is deprecated; use allowOrigins with exact/prefix/regex");
  (cors.allowMethods ?? []).forEach((m, i) => {
    if (!CORS_METHODS.has(m))
      ctx.error("TSMESH_INVALID_POLICY", `${path}.allowMethods[${i}]`, `${JSON.stringify(m)} is not a supported HTTP method; use an upper-case method such as GET or POST, or "*"`);
  });
  for (const field of ["allowHeaders", "exposeHeaders"] as const) {
    (cors[field] ?? []).forEach((h, i) => {
      const p = `${path}.${field}[${i}]`;
      if (h === "") ctx.error("TSMESH_INVALID_POLICY", p, "header name cannot be empty");
      else if (h !== "*" && !HEADER_NAME.test(h)) ctx.error("TSMESH_INVALID_POLICY", p, `${JSON.stringify(h)} is not a valid header name`);
    });
  }
  checkDurationPrecision(ctx, `${path}.maxAge`, cors.maxAge, true);
}

const RETRY_ON = new Set([
  "5xx",
  "gateway-error",
  "reset",
  "reset-before-request",
  "connect-failure",
  "retriable-4xx",
  "refused-stream",
  "retriable-status-codes",
  "retriable-headers",
  "envoy-ratelimited",
  "http3-post-connect-failure",
  "cancelled",
  "deadline-exceeded",
  "internal",
  "resource-exhausted",
  "unavailable",
]);

// HTTP status codes with a registered name (Go's net/http StatusText), which Istio accepts in retryOn.
const KNOWN_STATUS = new Set(
  [
    "100-103",
    "200-208",
    "226",
    "300-305",
    "307-308",
    "400-418",
    "421-426",
    "428-429",
    "431",
    "451",
    "500-508",
    "510-511",
  ].flatMap((r) => {
    const [a, b = a] = r.split("-").map(Number);
    return Array.from({ length: b - a + 1 }, (_, i) => a + i);
  }),
);

function checkRetries(ctx: ValidationContext, retries: HTTPRoute["retries"], path: string): void {
  if (!retries) return;
  const attempts = retries.attempts ?? 0;
  if (attempts < 0) ctx.error("TSMESH_INVALID_POLICY", `${path}.attempts`, `attempts ${attempts} must not be negative`);
  if (attempts === 0 && (retries.perTryTimeout !== undefined || (retries.retryOn ?? "") !== "" || retries.retryRemoteLocalities !== undefined))
    ctx.error(
      "TSMESH_INVALID_POLICY",
      `${path}.attempts`,
      "retry settings are configured but attempts is 0 (retries disabled); set attempts to a positive number or remove the other retry fields",
    );
  checkDurationPrecision(ctx, `${path}.perTryTimeout`, retries.perTryTimeout);
  checkDurationPrecision(ctx, `${path}.backoff`, retries.backoff);
  if (retries.retryOn !== undefined && retries.retryOn !== "") {
    for (const policy of retries.retryOn.split(",")) {
      const code = /^[+-]?\d+$/.test(policy) ? Number(policy) : 0;
      if (!KNOWN_STATUS.has(code) && !RETRY_ON.has(policy))
        ctx.error(
          "TSMESH_INVALID_POLICY",
          `${path}.retryOn`,
          `${JSON.stringify(policy)} is not a valid retryOn policy; use Envoy retry conditions (e.g. "5xx,connect-failure,reset") or HTTP status codes, comma-separated without spaces`,
        );
    }
  }
}

function checkRedirect(ctx: ValidationContext, redirect: HTTPRoute["redirect"], path: string): void {
  if (!redirect) return;
  const set = (s: string | undefined) => s !== undefined && s !== "";
  if (!set(redirect.uri) && !set(redirect.authority) && redirect.port === undefined && redirect.derivePort === undefined && !set(redirect.scheme)) {
    ctx.error("TSMESH_INVALID_ROUTE", path, "redirect must set at least one of uri, authority, scheme, port or derivePort");
    return;
  }
  if (redirect.redirectCode !== undefined && redirect.redirectCode !== 0 && (redirect.redirectCode < 300 || redirect.redirectCode > 399)) {
    ctx.error("TSMESH_INVALID_ROUTE", `${path}.redirectCode`, `${redirect.redirectCode} is not a valid redirect code; use a 3xx code such as 301 or 308`);
    return;
  }
  if (set(redirect.scheme) && redirect.scheme !== "http" && redirect.scheme !== "https") {
    ctx.error("TSMESH_INVALID_ROUTE", `${path}.scheme`, `invalid redirect scheme ${JSON.stringify(redirect.scheme)}; must be "http" or "https"`);
    return;
  }
  if (redirect.port !== undefined && redirect.port > 0) {
    const e = checkPort(redirect.port);
    if (e) ctx.error("TSMESH_INVALID_PORT", `${path}.port`, e);
  }
}

function base64DecodedLength(b64: string): number {
  const clean = b64.replace(/\s/g, "");
  const pad = clean.endsWith("==") ? 2 : clean.endsWith("=") ? 1 : 0;
  return Math.floor((clean.length * 3) / 4) - pad;
}

function checkDirectResponse(ctx: ValidationContext, dr: HTTPRoute["directResponse"], path: string): void {
  if (!dr) return;
  const body = dr.body;
  if (body) {
    const size = body.string !== undefined ? Buffer.byteLength(body.string, "utf8") : body.bytes !== undefined ? base64DecodedLength(body.bytes) : 0;
    const p = `${path}.body`;
    if (size > MB) ctx.error("TSMESH_INVALID_VALUE", p, `direct response body is ${size} bytes; it must be at most 1MB (large bodies burden the control plane)`);
    else if (size > 100 * KB) ctx.warn("TSMESH_SUSPICIOUS", p, `direct response body is ${size} bytes; bodies over 100KB may impact control plane performance`);
  }
  checkHTTPStatus(ctx, dr.status, `${path}.status`);
}

function checkRewrite(ctx: ValidationContext, rw: HTTPRoute["rewrite"], path: string): void {
  if (!rw) return;
  const uri = rw.uri ?? "";
  if (uri !== "" && rw.uriRegexRewrite) {
    ctx.error("TSMESH_INVALID_ROUTE", `${path}.uriRegexRewrite`, "rewrite may set only one of uri and uriRegexRewrite");
    return;
  }
  if (uri === "" && !rw.uriRegexRewrite && (rw.authority ?? "") === "") {
    ctx.error("TSMESH_INVALID_ROUTE", path, "rewrite must set at least one of uri, uriRegexRewrite or authority");
    return;
  }
  const rr = rw.uriRegexRewrite;
  if (rr) {
    if ((rr.match ?? "") === "" || (rr.rewrite ?? "") === "")
      ctx.error("TSMESH_INVALID_ROUTE", `${path}.uriRegexRewrite`, "uriRegexRewrite needs both match and rewrite");
    else checkRegexField(ctx, rr.match as string, `${path}.uriRegexRewrite.match`);
  }
}

function checkHTTPRoute(ctx: ValidationContext, r: HTTPRoute, path: string, inDelegateVS: boolean): void {
  checkRouteConflicts(ctx, r, path, inDelegateVS);
  (r.match ?? []).forEach((m, i) => checkMatchRequest(ctx, m, `${path}.match[${i}]`));
  checkHeaderOps(ctx, r.headers, `${path}.headers`);
  checkCors(ctx, r.corsPolicy, `${path}.corsPolicy`);
  checkFault(ctx, r.fault, `${path}.fault`);
  for (const field of ["mirrorPercent", "mirror_percent"] as const) {
    const v = r[field];
    if (v === undefined) continue;
    ctx.warn("TSMESH_DEPRECATED", `${path}.${field}`, `${field} is deprecated; use mirrorPercentage.value`);
    if (v > 100) ctx.error("TSMESH_INVALID_POLICY", `${path}.${field}`, `mirror percentage ${v} must be at most 100`);
  }
  checkMirrorPercent(ctx, r.mirrorPercentage?.value, `${path}.mirrorPercentage.value`);
  checkDestination(ctx, r.mirror, `${path}.mirror`);
  (r.mirrors ?? []).forEach((m, i) => {
    const p = `${path}.mirrors[${i}]`;
    checkDestination(ctx, m.destination, `${p}.destination`);
    checkMirrorPercent(ctx, m.percentage?.value, `${p}.percentage.value`);
  });
  checkRedirect(ctx, r.redirect, `${path}.redirect`);
  checkDirectResponse(ctx, r.directResponse, `${path}.directResponse`);
  checkRetries(ctx, r.retries, `${path}.retries`);
  checkRewrite(ctx, r.rewrite, `${path}.rewrite`);
  checkAuthorityRewrite(ctx, r, path);
  checkWeights(ctx, r.route, `${path}.route`);
  checkDurationPrecision(ctx, `${path}.timeout`, r.timeout);
}

/**
 * Hosts of a VirtualService bound to gateways may also be the SNI names Istio generates for
 * AUTO_PASSTHROUGH (`outbound_.<port>_._.<hostname>`), when the VirtualService routes TLS by SNI.
 */
function checkGatewayBoundHost(host: string, sni: boolean): string | undefined {
  if (sni && host.startsWith("outbound_") && host.length <= 255) {
    const parts = host.split("_");
    const format = "outbound_.<PORT>_._.<HOSTNAME>";
    if (parts.length < 4) return `domain name ${JSON.stringify(host)} invalid, should follow the ${format} format`;
    const port = parts[1].replace(/^\.+|\.+$/g, "");
    const hostname = parts[3].replace(/^\.+|\.+$/g, "");
    if (parts[0] !== "outbound") return `domain name ${JSON.stringify(host)} invalid (label ${JSON.stringify(parts[0])} invalid)`;
    if (!/[0-9]/.test(port)) return `domain name ${JSON.stringify(host)} invalid (label ${JSON.stringify(port)} invalid), should follow the ${format} format`;
    if (!/[a-zA-Z]/.test(hostname)) return `domain name ${JSON.stringify(host)} invalid (label ${JSON.stringify(hostname)} invalid), should follow the ${format} format`;
    return undefined;
  }
  return checkWildcardDomain(host);
}

function checkSniHost(ctx: ValidationContext, sni: string, spec: VirtualServiceSpec, path: string): void {
  const gatewayBound = !(spec.gateways ?? []).includes(MESH_GATEWAY);
  const e = gatewayBound ? checkGatewayBoundHost(sni, true) : checkWildcardDomain(sni);
  if (e) {
    if (isIPAddress(sni)) ctx.warn("TSMESH_SUSPICIOUS", path, `SNI host ${JSON.stringify(sni)} is an IP address; that goes against the SNI spec and most clients do not send it`);
    else ctx.error("TSMESH_INVALID_HOST", path, `invalid SNI host: ${e}`);
    return;
  }
  const hosts = spec.hosts ?? [];
  if (!hosts.some((h) => hostIsSubsetOf(sni, h)))
    ctx.error("TSMESH_INVALID_HOST", path, `SNI host ${JSON.stringify(sni)} is not covered by any of the VirtualService hosts [${hosts.join(", ")}]; add it (or a wildcard covering it) to spec.hosts`);
}

function checkTLSRoute(ctx: ValidationContext, r: TLSRoute, path: string, spec: VirtualServiceSpec): void {
  if ((r.match ?? []).length === 0) ctx.error("TSMESH_INVALID_MATCH", `${path}.match`, "a TLS route needs at least one match with sniHosts");
  (r.match ?? []).forEach((m, i) => {
    const p = `${path}.match[${i}]`;
    if ((m.sniHosts ?? []).length === 0) ctx.error("TSMESH_INVALID_MATCH", `${p}.sniHosts`, "a TLS match needs at least one SNI host");
    (m.sniHosts ?? []).forEach((sni, j) => checkSniHost(ctx, sni, spec, `${p}.sniHosts[${j}]`));
    (m.destinationSubnets ?? []).forEach((s, j) => checkSubnet(ctx, `${p}.destinationSubnets[${j}]`, s));
    checkMatchPort(ctx, m.port, `${p}.port`);
    checkSourceLabels(ctx, m.sourceLabels, `${p}.sourceLabels`);
    checkGatewayNames(ctx, m.gateways, `${p}.gateways`);
  });
  if ((r.route ?? []).length === 0) ctx.error("TSMESH_INVALID_ROUTE", `${path}.route`, "a TLS route needs at least one destination in route");
  checkWeights(ctx, r.route, `${path}.route`);
}

function checkTCPRoute(ctx: ValidationContext, r: TCPRoute, path: string): void {
  (r.match ?? []).forEach((m, i) => {
    const p = `${path}.match[${i}]`;
    (m.destinationSubnets ?? []).forEach((s, j) => checkSubnet(ctx, `${p}.destinationSubnets[${j}]`, s));
    checkMatchPort(ctx, m.port, `${p}.port`);
    checkSourceLabels(ctx, m.sourceLabels, `${p}.sourceLabels`);
    checkGatewayNames(ctx, m.gateways, `${p}.gateways`);
  });
  if ((r.route ?? []).length === 0) ctx.error("TSMESH_INVALID_ROUTE", `${path}.route`, "a TCP route needs at least one destination in route");
  checkWeights(ctx, r.route, `${path}.route`);
}

// ---------------------------------------------------------------------------------------------
// Unreachable rules (Istio reports these as warnings).

function stableJSON(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJSON).join(",")}]`;
  if (v && typeof v === "object")
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJSON((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(v);
}

function exactOrPrefix(sm: StringMatch | undefined): string {
  if (sm?.exact) return `exact:${sm.exact}`;
  if (sm?.prefix) return `prefix:${sm.prefix}`;
  return "";
}

interface PrefixMatch {
  rule: number;
  match: number;
  prefix: string;
  port: number;
  method: string;
  authority: string;
  headers: Map<string, string>;
  queryParams: Map<string, string>;
  withoutHeaders: Map<string, string>;
}

function toPrefixMatch(m: HTTPMatchRequest, rule: number, match: number): PrefixMatch | undefined {
  const prefix = m.uri?.prefix;
  if (!prefix) return undefined;
  const toMap = (rec: Record<string, StringMatch> | undefined) => new Map(Object.entries(rec ?? {}).map(([k, v]) => [k, exactOrPrefix(v)]));
  return {
    rule,
    match,
    prefix,
    port: m.port ?? 0,
    method: exactOrPrefix(m.method) || "exact:GET",
    authority: exactOrPrefix(m.authority),
    headers: toMap(m.headers),
    queryParams: toMap(m.queryParams),
    withoutHeaders: toMap(m.withoutHeaders),
  };
}

/** Istio's coveredValidation: does the earlier prefix match `a` shadow the later one `b`? */
function covers(a: PrefixMatch, b: PrefixMatch): boolean {
  if (!b.prefix.startsWith(a.prefix) || a.port !== b.port) return false;
  const narrower = (x: string, y: string) => x === y || x.startsWith(y);
  if (!narrower(a.method, b.method) || !narrower(a.authority, b.authority)) return false;
  for (const [ma, mb] of [
    [a.headers, b.headers],
    [a.queryParams, b.queryParams],
    [a.withoutHeaders, b.withoutHeaders],
  ]) {
    if (ma.size !== mb.size) return false;
    for (const [k, v] of ma) {
      const w = mb.get(k);
      if (w === undefined || !narrower(v, w)) return false;
    }
  }
  return true;
}

function routeLabel(routes: Array<{ name?: string }>, i: number): string {
  const name = routes[i]?.name;
  return name ? JSON.stringify(name) : `#${i}`;
}

/** A rule or match that can never apply; `scope` tells which (Istio's IST0130 vs IST0131). */
export interface UnreachableFinding {
  scope: "rule" | "match";
  path: string;
  message: string;
}

/** Every unreachable rule and match in a VirtualService's http, tcp and tls routes. */
export function unreachableRoutes(spec: VirtualServiceSpec): UnreachableFinding[] {
  const out: UnreachableFinding[] = [];
  findUnreachable(out, spec.http, "spec.http", true);
  findUnreachable(out, spec.tcp, "spec.tcp", false);
  findUnreachable(out, spec.tls, "spec.tls", false);
  return out;
}

function findUnreachable(out: UnreachableFinding[], routes: Array<{ name?: string; match?: Array<object> }> | undefined, path: string, isHTTP: boolean): void {
  if (!routes) return;
  const rule = (p: string, message: string) => out.push({ scope: "rule", path: p, message });
  const match = (p: string, message: string) => out.push({ scope: "match", path: p, message });
  const seen = new Map<string, number>();
  let catchAll = -1;
  const prefixMatches: PrefixMatch[] = [];
  routes.forEach((r, i) => {
    const p = `${path}[${i}]`;
    const matches = r.match ?? [];
    if (matches.length === 0) {
      if (catchAll >= 0) rule(p, `rule ${routeLabel(routes, i)} is never used: rule ${routeLabel(routes, catchAll)} before it has no match and takes all traffic`);
      catchAll = i;
      return;
    }
    if (catchAll >= 0) {
      rule(p, `rule ${routeLabel(routes, i)} is never used: rule ${routeLabel(routes, catchAll)} before it has no match and takes all traffic`);
      return;
    }
    let duplicates = 0;
    matches.forEach((m, j) => {
      const { name: _name, ...rest } = m as { name?: string };
      const key = stableJSON(isHTTP ? rest : m);
      const prior = seen.get(key);
      if (prior !== undefined) {
        match(`${p}.match[${j}]`, `this match is never used: rule ${routeLabel(routes, prior)} has the same match`);
        duplicates++;
        return;
      }
      seen.set(key, i);
      if (isHTTP) {
        const pm = toPrefixMatch(m as HTTPMatchRequest, i, j);
        if (pm) prefixMatches.push(pm);
      }
    });
    if (duplicates === matches.length) rule(p, `rule ${routeLabel(routes, i)} is never used: all its matches are used by earlier rules`);
  });
  for (let a = 0; a < prefixMatches.length; a++) {
    for (let b = a + 1; b < prefixMatches.length; b++) {
      const A = prefixMatches[a];
      const B = prefixMatches[b];
      if (A.prefix === B.prefix || !covers(A, B)) continue;
      match(
        `${path}[${B.rule}].match[${B.match}]`,
        `this match (uri prefix ${JSON.stringify(B.prefix)}) is never used: match #${A.match} of rule ${routeLabel(routes, A.rule)} (uri prefix ${JSON.stringify(A.prefix)}) comes first and covers it`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------

export const validateVirtualService: SemanticValidator<"VirtualService"> = (resource, ctx) => {
  const spec = resource.spec;
  const hosts = spec.hosts ?? [];
  const gateways = spec.gateways ?? [];
  const isDelegate = hosts.length === 0;

  if (isDelegate) {
    // A VirtualService without hosts is a delegate: only other VirtualServices' http routes point at it.
    if (gateways.length > 0) ctx.error("TSMESH_INVALID_ROUTE", "spec.gateways", "a delegate VirtualService (one without hosts) must not specify gateways; set them on the root VirtualService");
    if ((spec.tls ?? []).length > 0) ctx.error("TSMESH_INVALID_ROUTE", "spec.tls", "a delegate VirtualService (one without hosts) cannot have tls routes; only http routes can be delegated");
    if ((spec.tcp ?? []).length > 0) ctx.error("TSMESH_INVALID_ROUTE", "spec.tcp", "a delegate VirtualService (one without hosts) cannot have tcp routes; only http routes can be delegated");
  }

  const appliesToGateway = gateways.length > 0 && !gateways.includes(MESH_GATEWAY);
  const appliesToMesh = !appliesToGateway;
  checkGatewayNames(ctx, gateways, "spec.gateways");

  if (!appliesToGateway) {
    (spec.http ?? []).forEach((r, i) =>
      (r.match ?? []).forEach((m, j) => {
        for (const field of ["headers", "withoutHeaders"] as const)
          for (const key of Object.keys(m[field] ?? {}))
            if (isJWTClaimRoute(key))
              ctx.error("TSMESH_INVALID_MATCH", `spec.http[${i}].match[${j}].${field}[${key}]`, `JWT claim based routing (${key}) is only supported for VirtualServices bound to gateways (not "mesh")`);
      }),
    );
  }

  const sniRouted = (spec.tls ?? []).some((t) => (t.match ?? []).some((m) => (m.sniHosts ?? []).length > 0));
  let allHostsValid = true;
  hosts.forEach((h, i) => {
    const p = `spec.hosts[${i}]`;
    const e = appliesToGateway ? checkGatewayBoundHost(h, sniRouted) : checkWildcardDomain(h);
    if (e) {
      if (!isIPAddress(h)) {
        ctx.error("TSMESH_INVALID_HOST", p, e);
        allHostsValid = false;
      }
    } else if (appliesToMesh && h === "*") {
      ctx.error("TSMESH_INVALID_HOST", p, `host "*" is only allowed for VirtualServices bound to gateways (not "mesh"); name the services instead`);
      allHostsValid = false;
    }
  });
  if (allHostsValid) {
    for (let i = 0; i < hosts.length; i++)
      for (let j = i + 1; j < hosts.length; j++)
        if (hostsOverlap(hosts[i], hosts[j]))
          ctx.error("TSMESH_INVALID_HOST", `spec.hosts[${j}]`, `duplicate host: ${JSON.stringify(hosts[j])} overlaps ${JSON.stringify(hosts[i])} (spec.hosts[${i}])`);
  }

  if ((spec.http ?? []).length === 0 && (spec.tcp ?? []).length === 0 && (spec.tls ?? []).length === 0)
    ctx.error("TSMESH_INVALID_ROUTE", "spec", "a VirtualService needs at least one of http, tcp or tls routes");

  (spec.http ?? []).forEach((r, i) => checkHTTPRoute(ctx, r, `spec.http[${i}]`, isDelegate));
  (spec.tls ?? []).forEach((r, i) => checkTLSRoute(ctx, r, `spec.tls[${i}]`, spec));
  (spec.tcp ?? []).forEach((r, i) => checkTCPRoute(ctx, r, `spec.tcp[${i}]`));

  validateExportTo(ctx, "spec.exportTo", spec.exportTo, resource.metadata.namespace);

  for (const f of unreachableRoutes(spec)) ctx.warn("TSMESH_SUSPICIOUS", f.path, f.message);
};
