// A VirtualService HTTP route, as Istio's validateHTTPRoute checks it: matches, which of route,
// redirect, directResponse and delegate go together, and each policy (fault, CORS, retries,
// redirect, direct response, rewrite, mirrors, timeout).
import type { HTTPMatchRequest, HTTPRoute } from "../resource.js";
import { GRPC_STATUS_NAMES } from "../../core/grpc.js";
import { checkPort, isDNS1123Label } from "./common.js";
import type { ValidationContext } from "./context.js";
import {
  checkDestination,
  checkDurationPrecision,
  checkGatewayNames,
  checkMatchPort,
  checkRegexField,
  checkSourceLabels,
  checkStringMatch,
  checkWeights,
} from "./virtualservice-fields.js";
import { checkAuthorityRewrite, checkHeaderOps, HEADER_NAME, isJWTClaimRoute, PSEUDO_HEADERS } from "./virtualservice-headers.js";

const KB = 1024;

const MB = 1024 * KB;

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

export function checkHTTPRoute(ctx: ValidationContext, r: HTTPRoute, path: string, inDelegateVS: boolean): void {
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
