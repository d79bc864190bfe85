// ext_authz's two clients (Envoy's ExtAuthz::GrpcClientImpl and RawHttpClientImpl) behind one
// interface: a CheckRequest goes out through the proxy's async client to the configured cluster
// (looked up per call: CDS may have removed it — then the check is an error), and what comes back
// becomes one Response: OK with the header and query mutations to apply, Denied with the local
// reply to send, or Error. Responses are read strictly and bounded; a call can be cancelled.
import type * as http from "node:http";
import { durationMs, fromStruct } from "../../envoy/protos.js";
import type { envoy } from "../../envoy/types.js";
import { wireDecode, wireEncode } from "../../envoy/wire.js";
import type { MetadataFields, MetadataValue } from "../dynamic-metadata.js";
import { AsyncCallError, asyncHttpCall } from "../http/async-client.js";
import { grpcUnaryCall } from "../http/async-grpc.js";
import type { FilterRuntime } from "../http/filter.js";
import type { HeaderMutations } from "../http/headers.js";
import type { HeaderMatch } from "./header-match.js";
import { XdsConfigError } from "../xds-error.js";

type CheckRequest = envoy.service.auth.v3.CheckRequest;
type CheckResponse = envoy.service.auth.v3.CheckResponse;
type HeaderValueOption = envoy.config.core.v3.HeaderValueOption;

export const enum CheckStatus {
  OK = 0,
  Denied = 1,
  Error = 2,
}

export type HeaderPair = readonly [name: string, value: string];

/** Envoy's ExtAuthz::Response. */
export interface AuthzResponse {
  status: CheckStatus;
  /** Denied: the local reply's status (403 when the service gave none). */
  statusCode: number;
  /** Denied: the local reply's body. */
  body: string;
  /** OK: request headers to overwrite; Denied: the local reply's headers. */
  headersToSet: HeaderPair[];
  /** OK: request header values to add (another entry). */
  headersToAdd: HeaderPair[];
  /** OK: values appended to a request header that exists ("," joined); ignored otherwise. */
  headersToAppend: HeaderPair[];
  /** OK: set only when the request lacks the header. */
  headersToAddIfAbsent: HeaderPair[];
  /** OK: set only when the request has the header. */
  headersToOverwriteIfExists: HeaderPair[];
  headersToRemove: string[];
  /** OK: response headers to add / overwrite once the upstream answers. */
  responseHeadersToAdd: HeaderPair[];
  responseHeadersToSet: HeaderPair[];
  queryParametersToSet: HeaderPair[];
  queryParametersToRemove: string[];
  dynamicMetadata: MetadataFields | undefined;
}

export function emptyResponse(status: CheckStatus): AuthzResponse {
  return {
    status,
    statusCode: status === CheckStatus.OK ? 200 : 403,
    body: "",
    headersToSet: [],
    headersToAdd: [],
    headersToAppend: [],
    headersToAddIfAbsent: [],
    headersToOverwriteIfExists: [],
    headersToRemove: [],
    responseHeadersToAdd: [],
    responseHeadersToSet: [],
    queryParametersToSet: [],
    queryParametersToRemove: [],
    dynamicMetadata: undefined,
  };
}

export interface PendingCheck {
  readonly response: Promise<AuthzResponse>;
  cancel(): void;
}

/** What an HTTP service check carries besides the CheckRequest (the check request's headers). */
export interface CheckContext {
  /** Formatter variables for authorization_request.headers_to_add. */
  formatterVars?: Parameters<HeaderMutations["apply"]>[1];
}

export interface AuthzClient {
  readonly cluster: string;
  check(runtime: FilterRuntime, request: CheckRequest, ctx?: CheckContext): PendingCheck;
}

/** Envoy's default ext_authz timeout. */
const DEFAULT_TIMEOUT_MS = 200;
/** The largest check response accepted (a CheckResponse or an HTTP check response body). */
export const MAX_CHECK_RESPONSE_BYTES = 1 << 20;

const CHECK_PATH = "/envoy.service.auth.v3.Authorization/Check";

function settled(r: AuthzResponse): PendingCheck {
  return { response: Promise.resolve(r), cancel: () => {} };
}

// ---- gRPC ----

const statusCodes = new Map<string, number>();

/** An envoy.type.v3.StatusCode (decoded as its name) as the number it stands for (0: none). */
export function statusCodeNumber(code: unknown): number {
  if (typeof code === "number") return code;
  if (typeof code !== "string") return 0;
  let n = statusCodes.get(code);
  if (n === undefined) {
    // Encoding {code} gives [tag 0x08, varint]: the enum's number, from the proxy's own schema.
    const b = wireEncode("envoy.type.v3.HttpStatus", { code });
    n = b.length >= 2 ? (b[1] & 0x7f) | (b.length > 2 ? (b[2] & 0x7f) << 7 : 0) : 0;
    statusCodes.set(code, n);
  }
  return n;
}

function headerPair(o: HeaderValueOption): HeaderPair | undefined {
  const h = o.header;
  const key = h?.key?.toLowerCase() ?? "";
  if (key === "") return undefined;
  const raw = h?.rawValue;
  const value = raw !== undefined && raw.byteLength > 0 ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("utf8") : (h?.value ?? "");
  return [key, value];
}

/** Where one HeaderValueOption of an OkHttpResponse goes (Envoy's gRPC client: `append` wins, unset overwrites). */
function sortOkHeader(o: HeaderValueOption, r: AuthzResponse): void {
  const p = headerPair(o);
  if (p === undefined) return;
  if (o.append !== undefined) {
    (o.append.value === true ? r.headersToAppend : r.headersToSet).push(p);
    return;
  }
  switch (o.appendAction) {
    case "ADD_IF_ABSENT":
      r.headersToAddIfAbsent.push(p);
      return;
    case "OVERWRITE_IF_EXISTS":
      r.headersToOverwriteIfExists.push(p);
      return;
    default:
      r.headersToSet.push(p);
  }
}

function metadataOf(s: unknown): MetadataFields | undefined {
  const f = fromStruct(s) as Record<string, MetadataValue>;
  return Object.keys(f).length > 0 ? f : undefined;
}

/** A CheckResponse as Envoy's gRPC client reads it. */
export function fromCheckResponse(m: CheckResponse): AuthzResponse {
  const code = m.status?.code ?? 0;
  if (code === 0) {
    const r = emptyResponse(CheckStatus.OK);
    const ok = m.okResponse;
    if (ok !== undefined) {
      for (const h of ok.headers ?? []) sortOkHeader(h, r);
      r.headersToRemove = (ok.headersToRemove ?? []).map((n) => n.toLowerCase());
      for (const h of ok.responseHeadersToAdd ?? []) {
        const p = headerPair(h);
        if (p !== undefined) (h.append?.value === true ? r.responseHeadersToAdd : r.responseHeadersToSet).push(p);
      }
      r.queryParametersToSet = (ok.queryParametersToSet ?? []).filter((q) => q.key).map((q) => [q.key!, q.value ?? ""] as const);
      r.queryParametersToRemove = ok.queryParametersToRemove ?? [];
    }
    r.dynamicMetadata = metadataOf(m.dynamicMetadata) ?? metadataOf(ok?.dynamicMetadata);
    return r;
  }
  const r = emptyResponse(CheckStatus.Denied);
  const d = m.deniedResponse;
  if (d !== undefined) {
    const sc = statusCodeNumber(d.status?.code);
    if (sc >= 100 && sc <= 599) r.statusCode = sc;
    r.body = d.body ?? "";
    for (const h of d.headers ?? []) {
      const p = headerPair(h);
      if (p !== undefined) r.headersToSet.push(p);
    }
  }
  r.dynamicMetadata = metadataOf(m.dynamicMetadata);
  return r;
}

/** GrpcService (envoy_grpc) of ext_authz, compiled. */
export function grpcClient(g: envoy.config.core.v3.GrpcService, path: string): AuthzClient {
  if (g.googleGrpc !== undefined) throw new XdsConfigError(`${path}.googleGrpc`, "google_grpc is not implemented by tsmesh (use envoy_grpc)");
  if (g.retryPolicy !== undefined) throw new XdsConfigError(`${path}.retryPolicy`, "gRPC retry policies are not implemented by tsmesh");
  const cluster = g.envoyGrpc?.clusterName ?? "";
  if (cluster === "") throw new XdsConfigError(`${path}.envoyGrpc.clusterName`, "cluster_name is required");
  const authority = g.envoyGrpc?.authority || cluster;
  const timeoutMs = g.timeout !== undefined ? (durationMs(g.timeout) ?? DEFAULT_TIMEOUT_MS) : DEFAULT_TIMEOUT_MS;
  const metadata: Record<string, string> = {};
  (g.initialMetadata ?? []).forEach((h, i) => {
    const k = h.key?.toLowerCase() ?? "";
    if (k === "" || k.startsWith(":") || /[\0\r\n]/.test(k + (h.value ?? ""))) throw new XdsConfigError(`${path}.initialMetadata[${i}]`, "invalid metadata entry");
    metadata[k] = h.value ?? "";
  });
  return {
    cluster,
    check(runtime, request) {
      const c = runtime.cluster(cluster);
      if (c === undefined) return settled(emptyResponse(CheckStatus.Error));
      const call = grpcUnaryCall(runtime.router, c, {
        path: CHECK_PATH,
        authority,
        message: wireEncode("envoy.service.auth.v3.CheckRequest", request as never),
        timeoutMs: timeoutMs > 0 ? timeoutMs : 24 * 3600_000,
        maxResponseBytes: MAX_CHECK_RESPONSE_BYTES,
        metadata,
      });
      const response = call.result.then((r): AuthzResponse => {
        if (r.status !== 0 || r.response === undefined) return emptyResponse(CheckStatus.Error);
        try {
          return fromCheckResponse(wireDecode("envoy.service.auth.v3.CheckResponse", r.response) as CheckResponse);
        } catch {
          return emptyResponse(CheckStatus.Error);
        }
      });
      return { response, cancel: () => call.cancel() };
    },
  };
}

// ---- HTTP ----

/** authorization_request / authorization_response of an http_service, compiled. */
export interface HttpServiceConfig {
  cluster: string;
  timeoutMs: number;
  pathPrefix: string;
  /** Check request headers sent to the service (Envoy's request matchers). */
  requestHeaders: HeaderMatch;
  headersToAdd: HeaderMutations | undefined;
  upstreamHeaders: HeaderMatch;
  upstreamHeadersToAppend: HeaderMatch;
  /** Headers of a denied response that reach the client. */
  clientHeaders: HeaderMatch;
  clientHeadersOnSuccess: HeaderMatch;
  dynamicMetadataFromHeaders: HeaderMatch;
}

const HEADERS_TO_REMOVE = "x-envoy-auth-headers-to-remove";
/** Never copied from a check response into a local reply: the reply frames its own body. */
const FRAMING = new Set(["content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer", "proxy-connection"]);

function eachHeader(h: http.OutgoingHttpHeaders, f: (name: string, value: string) => void): void {
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || k.startsWith(":")) continue;
    if (Array.isArray(v)) for (const x of v) f(k, String(x));
    else f(k, String(v));
  }
}

/** An HTTP check response as Envoy's RawHttpClientImpl reads it: 200 OK, 5xx error, else denied. */
export function fromHttpResponse(cfg: HttpServiceConfig, status: number, headers: http.OutgoingHttpHeaders, body: Buffer): AuthzResponse {
  if (status >= 500 && status <= 599) return emptyResponse(CheckStatus.Error);
  if (status === 200) {
    const r = emptyResponse(CheckStatus.OK);
    const md: Record<string, MetadataValue> = {};
    eachHeader(headers, (k, v) => {
      if (k === HEADERS_TO_REMOVE) {
        for (const n of v.split(",")) {
          const t = n.trim().toLowerCase();
          if (t !== "") r.headersToRemove.push(t);
        }
        return;
      }
      if (cfg.upstreamHeaders(k)) r.headersToSet.push([k, v]);
      if (cfg.upstreamHeadersToAppend(k)) r.headersToAdd.push([k, v]);
      if (cfg.clientHeadersOnSuccess(k)) r.responseHeadersToAdd.push([k, v]);
      if (cfg.dynamicMetadataFromHeaders(k)) md[k] = v;
    });
    if (Object.keys(md).length > 0) r.dynamicMetadata = md;
    return r;
  }
  const r = emptyResponse(CheckStatus.Denied);
  r.statusCode = status;
  r.body = body.toString("utf8");
  const md: Record<string, MetadataValue> = {};
  eachHeader(headers, (k, v) => {
    if (k === HEADERS_TO_REMOVE) return;
    if (cfg.clientHeaders(k) && !FRAMING.has(k)) r.headersToSet.push([k, v]);
    if (cfg.dynamicMetadataFromHeaders(k)) md[k] = v;
  });
  if (Object.keys(md).length > 0) r.dynamicMetadata = md;
  return r;
}

/** Sends the CheckRequest as Envoy's HTTP client does: the request's method, prefixed path, host and allowed headers. */
export function httpClient(cfg: HttpServiceConfig): AuthzClient {
  return {
    cluster: cfg.cluster,
    check(runtime, request, ctx) {
      const c = runtime.cluster(cfg.cluster);
      if (c === undefined) return settled(emptyResponse(CheckStatus.Error));
      const h = request.attributes?.request?.http;
      const headers: http.OutgoingHttpHeaders = {};
      let method = "GET";
      let path = "/";
      let authority = "";
      for (const [k, v] of Object.entries(h?.headers ?? {})) {
        if (k === "content-length" || !cfg.requestHeaders(k)) continue;
        if (k === ":method") method = v;
        else if (k === ":path") path = cfg.pathPrefix + v;
        else if (k === ":authority") authority = v;
        else if (!k.startsWith(":")) headers[k] = v;
      }
      cfg.headersToAdd?.apply(headers as Record<string, string>, ctx?.formatterVars);
      const body = h?.rawBody !== undefined && h.rawBody.byteLength > 0 ? Buffer.from(h.rawBody) : h?.body ? Buffer.from(h.body, "utf8") : undefined;
      // Envoy's check requests always carry a length (0 without a body).
      if (body === undefined) headers["content-length"] = "0";
      const call = asyncHttpCall(runtime.router, c, {
        method,
        path,
        authority,
        headers,
        body,
        timeoutMs: cfg.timeoutMs > 0 ? cfg.timeoutMs : 24 * 3600_000,
        maxResponseBytes: MAX_CHECK_RESPONSE_BYTES,
      });
      const response = call.response.then(
        (r) => fromHttpResponse(cfg, r.status, r.headers, r.body),
        (e: unknown) => {
          if (!(e instanceof AsyncCallError)) throw e;
          return emptyResponse(CheckStatus.Error);
        },
      );
      return { response, cancel: () => call.cancel() };
    },
  };
}
