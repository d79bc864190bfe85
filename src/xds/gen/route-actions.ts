// What a VirtualService HTTP route does besides choosing its destination, in Envoy's terms (Istio's
// route.go): header operations (TranslateHeadersOperations), fault injection (TranslateFault), CORS
// (TranslateCORSPolicy), mirroring fractions, redirects (ApplyRedirect) and direct responses.
import type { HTTPRoute } from "../../api/resource.js";
import { GRPC_STATUS_CODES } from "../../core/grpc.js";
import { parseDuration } from "../../api/validation/common.js";
import { duration } from "../../envoy/protos.js";
import type {
  ClusterWeight,
  CorsPolicy,
  DirectResponseAction,
  FaultAbort,
  FractionalPercent,
  HeaderValueOption,
  HTTPFault,
  RedirectAction,
  Route,
  RouteAction,
  RuntimeFractionalPercent,
  StringMatcher,
} from "../../envoy/types.js";
import { stringMatcher } from "./route-match.js";

type Headers = NonNullable<HTTPRoute["headers"]>;

interface HeaderOperations {
  requestHeadersToAdd: HeaderValueOption[];
  requestHeadersToRemove: string[];
  responseHeadersToAdd: HeaderValueOption[];
  responseHeadersToRemove: string[];
  /** `:authority`/`host` set or added: becomes hostRewriteLiteral. */
  authority: string;
}

function isInternalHeader(k: string): boolean {
  return k.startsWith(":") || k.toLowerCase() === "host";
}

function isAuthorityHeader(k: string): boolean {
  const l = k.toLowerCase();
  return l === ":authority" || l === "host";
}

/** Istio's translateAppendHeaders: sorted by name; set overwrites, add appends (Envoy's default action). */
function appendHeaders(headers: Record<string, string> | undefined, append: boolean): [HeaderValueOption[], string] {
  if (!headers) return [[], ""];
  let authority = "";
  const out: HeaderValueOption[] = [];
  for (const key of Object.keys(headers).sort()) {
    const value = headers[key];
    if (isAuthorityHeader(key)) authority = value;
    if (isInternalHeader(key)) continue;
    const header: HeaderValueOption["header"] = value ? { key, value } : { key };
    // APPEND_IF_EXISTS_OR_ADD is the enum's zero value: left out.
    out.push(append ? { header } : { header, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" });
  }
  return [out, authority];
}

/** Istio's TranslateHeadersOperations. */
export function translateHeaderOperations(h: Headers): HeaderOperations {
  const [reqSet, setAuthority] = appendHeaders(h.request?.set, false);
  const [reqAdd, addAuthority] = appendHeaders(h.request?.add, true);
  const [respSet] = appendHeaders(h.response?.set, false);
  const [respAdd] = appendHeaders(h.response?.add, true);
  return {
    requestHeadersToAdd: [...reqSet, ...reqAdd],
    requestHeadersToRemove: (h.request?.remove ?? []).filter((k) => !isInternalHeader(k)),
    responseHeadersToAdd: [...respSet, ...respAdd],
    responseHeadersToRemove: (h.response?.remove ?? []).filter((k) => !isInternalHeader(k)),
    authority: setAuthority || addAuthority,
  };
}

/** Writes non-empty header operations onto a Route or ClusterWeight (appending to what is there). */
export function applyHeaderOperations(target: Route | ClusterWeight, ops: HeaderOperations): void {
  if (ops.requestHeadersToAdd.length > 0) target.requestHeadersToAdd = [...(target.requestHeadersToAdd ?? []), ...ops.requestHeadersToAdd];
  if (ops.requestHeadersToRemove.length > 0) target.requestHeadersToRemove = [...(target.requestHeadersToRemove ?? []), ...ops.requestHeadersToRemove];
  if (ops.responseHeadersToAdd.length > 0) target.responseHeadersToAdd = [...(target.responseHeadersToAdd ?? []), ...ops.responseHeadersToAdd];
  if (ops.responseHeadersToRemove.length > 0) target.responseHeadersToRemove = [...(target.responseHeadersToRemove ?? []), ...ops.responseHeadersToRemove];
}

/** Istio percent (0–100, fractional) → FractionalPercent in millionths. */
export function percentToFraction(value: number | undefined): FractionalPercent {
  const numerator = Math.round((value ?? 0) * 10000);
  return numerator ? { numerator, denominator: "MILLION" } : { denominator: "MILLION" };
}

/** Integer percent → FractionalPercent over HUNDRED (the enum's zero value, left out). */
export function integerToFraction(value: number | undefined): FractionalPercent {
  return value ? { numerator: value } : {};
}

/** gRPC status names Istio accepts in `abort.grpcStatus`. */
const GRPC_STATUS = GRPC_STATUS_CODES;

/**
 * Istio's TranslateFault → envoy.extensions.filters.http.fault.v3.HTTPFault fields (undefined when
 * nothing usable is left: exponential delays and HTTP/2 errors are not supported, as in Istio).
 */
export function translateFault(fault: NonNullable<HTTPRoute["fault"]>, errors: string[] = []): HTTPFault | undefined {
  const out: HTTPFault = {};
  const d = fault.delay;
  if (d) {
    if (d.fixedDelay !== undefined) {
      const ms = parseDuration(d.fixedDelay);
      if (ms !== undefined) {
        out.delay = {
          fixedDelay: duration(ms),
          percentage: d.percentage ? percentToFraction(d.percentage.value) : integerToFraction(d.percent),
        };
      }
    } else {
      errors.push("fault.delay: only fixedDelay is supported (exponentialDelay ignored)");
    }
  }
  const a = fault.abort;
  if (a) {
    const abort: FaultAbort = {};
    if (a.httpStatus !== undefined) abort.httpStatus = a.httpStatus;
    else if (a.grpcStatus !== undefined) {
      const code = /^\d+$/.test(a.grpcStatus) ? Number(a.grpcStatus) : GRPC_STATUS[a.grpcStatus.toUpperCase()];
      if (code !== undefined) abort.grpcStatus = code;
    }
    if (abort.httpStatus === undefined && abort.grpcStatus === undefined) {
      errors.push("fault.abort: only httpStatus and grpcStatus aborts are supported");
    } else {
      if (a.percentage) abort.percentage = percentToFraction(a.percentage.value);
      out.abort = abort;
    }
  }
  return out.delay || out.abort ? out : undefined;
}

/** Istio's TranslateCORSPolicy → envoy.extensions.filters.http.cors.v3.CorsPolicy fields. */
export function translateCorsPolicy(cors: NonNullable<HTTPRoute["corsPolicy"]>): CorsPolicy {
  const out: CorsPolicy = {};
  if (cors.allowOrigins) {
    const m = cors.allowOrigins.map((o) => stringMatcher(o)).filter((x): x is StringMatcher => x !== undefined);
    if (m.length > 0) out.allowOriginStringMatch = m;
  } else if (cors.allowOrigin && cors.allowOrigin.length > 0) {
    out.allowOriginStringMatch = cors.allowOrigin.map((exact) => ({ exact }));
  }
  if (cors.allowMethods?.length) out.allowMethods = cors.allowMethods.join(",");
  if (cors.allowHeaders?.length) out.allowHeaders = cors.allowHeaders.join(",");
  if (cors.exposeHeaders?.length) out.exposeHeaders = cors.exposeHeaders.join(",");
  if (cors.maxAge !== undefined) {
    const ms = parseDuration(cors.maxAge);
    if (ms !== undefined) out.maxAge = String(Math.floor(ms / 1000));
  }
  if (cors.allowCredentials !== undefined) out.allowCredentials = { value: cors.allowCredentials };
  out.filterEnabled = { defaultValue: { numerator: 100 } };
  out.forwardNotMatchingPreflights = { value: cors.unmatchedPreflights !== "IGNORE" };
  return out;
}

/** Istio's MirrorPercent: mirrorPercentage (0 → no mirroring), legacy mirrorPercent, else 100%. */
export function mirrorFraction(route: HTTPRoute): RuntimeFractionalPercent | undefined {
  if (route.mirrorPercentage) {
    return route.mirrorPercentage.value && route.mirrorPercentage.value > 0 ? { defaultValue: percentToFraction(route.mirrorPercentage.value) } : undefined;
  }
  const legacy = route.mirrorPercent ?? route.mirror_percent;
  if (legacy !== undefined) return legacy > 0 ? { defaultValue: integerToFraction(legacy) } : undefined;
  return { defaultValue: integerToFraction(100) };
}

export function mirrorPolicy(cluster: string, fraction: RuntimeFractionalPercent): RouteAction.RequestMirrorPolicy {
  return { cluster, runtimeFraction: fraction, traceSampled: { value: false } };
}

// ---------------------------------------------------------------------------------------------
// Redirect, direct response

const REDIRECT_CODES: Readonly<Record<number, RedirectAction.RedirectResponseCode | undefined>> = {
  // MOVED_PERMANENTLY (301) is the enum's zero value: left out.
  0: undefined,
  301: undefined,
  302: "FOUND",
  303: "SEE_OTHER",
  307: "TEMPORARY_REDIRECT",
  308: "PERMANENT_REDIRECT",
};

/** Istio's ApplyRedirect → RedirectAction (undefined for an unsupported redirect code). */
export function translateRedirect(r: NonNullable<HTTPRoute["redirect"]>, listenPort: number, tls: boolean): RedirectAction | undefined {
  const code = r.redirectCode ?? 0;
  if (!(code in REDIRECT_CODES)) return undefined;
  const out: RedirectAction = {};
  if (r.authority) out.hostRedirect = r.authority;
  if (r.uri) out.pathRedirect = r.uri;
  else if (r.prefixRewrite) out.prefixRewrite = r.prefixRewrite;
  if (r.scheme) out.schemeRedirect = r.scheme;
  if (r.port !== undefined || r.derivePort !== undefined) {
    let port = 0;
    if (r.port !== undefined) port = r.port;
    else if (r.derivePort === "FROM_REQUEST_PORT") port = listenPort;
    const scheme = r.scheme || (tls ? "https" : "http");
    // No explicit :80 / :443 for their own schemes.
    if ((port === 80 && scheme === "http") || (port === 443 && scheme === "https")) port = 0;
    if (port) out.portRedirect = port;
  }
  const responseCode = REDIRECT_CODES[code];
  if (responseCode) out.responseCode = responseCode;
  return out;
}

/** Istio's ApplyDirectResponse → DirectResponseAction. */
export function translateDirectResponse(d: NonNullable<HTTPRoute["directResponse"]>): DirectResponseAction {
  const out: DirectResponseAction = { status: d.status };
  if (d.body?.string !== undefined) out.body = d.body.string ? { inlineString: d.body.string } : {};
  else if (d.body?.bytes !== undefined) out.body = d.body.bytes ? { inlineBytes: Buffer.from(d.body.bytes, "base64") } : {};
  return out;
}
