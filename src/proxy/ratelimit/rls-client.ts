// The global rate limit's call (Envoy's RateLimit::GrpcClientImpl): ShouldRateLimit on
// envoy.service.ratelimit.v3.RateLimitService through the proxy's own cluster (envoy_grpc), the
// request and response in the proxy's wire codec. What the filter gets is Envoy's LimitStatus —
// OK, OVER_LIMIT, or ERROR for anything else (no cluster, a timeout, a non-OK gRPC status, a
// response that does not decode) — with the service's headers, body and dynamic metadata.
import { fromStruct } from "../../envoy/protos.js";
import type * as v3 from "../../envoy/types.js";
import { wireDecode, wireEncode } from "../../envoy/wire.js";
import { grpcUnaryCall } from "../http/async-grpc.js";
import type { FilterRuntime } from "../http/filter.js";
import { XdsConfigError } from "../xds-error.js";
import type { RateLimitDescriptor } from "./actions.js";
import type { MetadataFields } from "../dynamic-metadata.js";

const METHOD = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit";
const REQUEST = "envoy.service.ratelimit.v3.RateLimitRequest";
const RESPONSE = "envoy.service.ratelimit.v3.RateLimitResponse";
/** The largest response accepted (Envoy has no bound by default; a proxy must have one). */
const MAX_RESPONSE_BYTES = 1 << 20;

export interface RateLimitService {
  readonly cluster: string;
  readonly authority: string;
  readonly metadata: Readonly<Record<string, string>> | undefined;
  /** max_receive_message_length, within the proxy's own bound. */
  readonly maxResponseBytes: number;
}

/** Compiles rate_limit_service (envoy_grpc, transport V3). */
export function rateLimitService(c: v3.envoy.config.ratelimit.v3.RateLimitServiceConfig | undefined, path: string): RateLimitService {
  if (!c?.grpcService) throw new XdsConfigError(`${path}.grpcService`, "rate_limit_service needs a grpc_service");
  if (c.transportApiVersion !== undefined && c.transportApiVersion !== "V3") throw new XdsConfigError(`${path}.transportApiVersion`, "only transport_api_version V3 is supported");
  const g = c.grpcService;
  if (g.googleGrpc) throw new XdsConfigError(`${path}.grpcService.googleGrpc`, "google_grpc is not implemented by tsmesh (use envoy_grpc)");
  if (g.retryPolicy || g.envoyGrpc?.retryPolicy) throw new XdsConfigError(`${path}.grpcService${g.retryPolicy ? "" : ".envoyGrpc"}.retryPolicy`, "retry policies on the rate limit call are not implemented by tsmesh");
  const cluster = g.envoyGrpc?.clusterName ?? "";
  if (!cluster) throw new XdsConfigError(`${path}.grpcService.envoyGrpc.clusterName`, "cluster_name must not be empty");
  let metadata: Record<string, string> | undefined;
  (g.initialMetadata ?? []).forEach((h, i) => {
    const key = (h.key ?? "").toLowerCase();
    if (!/^[a-z0-9_.-]+$/.test(key) || key.endsWith("-bin")) throw new XdsConfigError(`${path}.grpcService.initialMetadata[${i}].key`, `invalid metadata key ${JSON.stringify(h.key)}`);
    (metadata ??= {})[key] = h.value ?? "";
  });
  const maxReceive = g.envoyGrpc?.maxReceiveMessageLength?.value;
  return { cluster, authority: g.envoyGrpc?.authority || cluster, metadata, maxResponseBytes: maxReceive ? Math.min(maxReceive, MAX_RESPONSE_BYTES) : MAX_RESPONSE_BYTES };
}

export type LimitStatus = "OK" | "OVER_LIMIT" | "ERROR";

export interface DescriptorStatus {
  readonly code: string;
  readonly requestsPerUnit: number | undefined;
  readonly unit: string | undefined;
  readonly name: string | undefined;
  readonly remaining: number;
  readonly resetSeconds: number | undefined;
}

export interface LimitResult {
  readonly status: LimitStatus;
  readonly responseHeaders: ReadonlyArray<readonly [string, string]>;
  readonly requestHeaders: ReadonlyArray<readonly [string, string]>;
  readonly body: string;
  readonly dynamicMetadata: MetadataFields | undefined;
  readonly statuses: readonly DescriptorStatus[];
  /** Why the call failed (ERROR), for the log. */
  readonly error?: string;
}

export interface LimitCall {
  readonly result: Promise<LimitResult>;
  cancel(): void;
}

const errorResult = (error: string): LimitResult => ({ status: "ERROR", responseHeaders: [], requestHeaders: [], body: "", dynamicMetadata: undefined, statuses: [], error });

function headerPairs(list: readonly v3.envoy.config.core.v3.HeaderValue[] | undefined): Array<readonly [string, string]> {
  const out: Array<readonly [string, string]> = [];
  for (const h of list ?? []) {
    const k = (h.key ?? "").toLowerCase();
    // Only valid, non-pseudo header names from the service.
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(k)) continue;
    const v = h.value ?? (h.rawValue ? Buffer.from(h.rawValue).toString("latin1") : "");
    if (/[\0\r\n]/.test(v)) continue;
    out.push([k, v]);
  }
  return out;
}

/** The RateLimitRequest for `descriptors` in `domain`. */
export function rateLimitRequest(domain: string, descriptors: readonly RateLimitDescriptor[]): v3.envoy.service.ratelimit.v3.RateLimitRequest {
  return {
    domain,
    descriptors: descriptors.map((d) => ({
      entries: d.entries.map((e) => ({ key: e.key, value: e.value })),
      ...(d.limit ? { limit: { requestsPerUnit: d.limit.requestsPerUnit, unit: d.limit.unit } } : {}),
    })),
  };
}

/** Asks the service; never throws. */
export function shouldRateLimit(runtime: FilterRuntime, service: RateLimitService, domain: string, descriptors: readonly RateLimitDescriptor[], timeoutMs: number): LimitCall {
  const cluster = runtime.cluster(service.cluster);
  if (cluster === undefined) return { result: Promise.resolve(errorResult(`unknown cluster ${service.cluster}`)), cancel: () => {} };
  const message = wireEncode(REQUEST, rateLimitRequest(domain, descriptors) as never);
  const call = grpcUnaryCall(runtime.router, cluster, { path: METHOD, authority: service.authority, message, timeoutMs, maxResponseBytes: service.maxResponseBytes, metadata: service.metadata });
  const result = call.result.then((r): LimitResult => {
    if (r.status !== 0 || r.response === undefined) return errorResult(`grpc status ${r.status}: ${r.message}`);
    let resp: v3.envoy.service.ratelimit.v3.RateLimitResponse;
    try {
      resp = wireDecode(RESPONSE, r.response) as v3.envoy.service.ratelimit.v3.RateLimitResponse;
    } catch (e) {
      return errorResult(`undecodable response: ${(e as Error).message}`);
    }
    const statuses = (resp.statuses ?? []).map(
      (s): DescriptorStatus => ({
        code: s.code ?? "UNKNOWN",
        requestsPerUnit: s.currentLimit?.requestsPerUnit,
        unit: s.currentLimit?.unit,
        name: s.currentLimit?.name || undefined,
        remaining: s.limitRemaining ?? 0,
        resetSeconds: s.durationUntilReset ? Number(s.durationUntilReset.seconds ?? 0) : undefined,
      }),
    );
    const md = resp.dynamicMetadata ? (fromStruct(resp.dynamicMetadata) as MetadataFields) : undefined;
    return {
      // Envoy: OVER_LIMIT limits; any other code (OK, UNKNOWN) lets the request through.
      status: resp.overallCode === "OVER_LIMIT" ? "OVER_LIMIT" : "OK",
      responseHeaders: headerPairs(resp.responseHeadersToAdd),
      requestHeaders: headerPairs(resp.requestHeadersToAdd),
      body: resp.rawBody ? Buffer.from(resp.rawBody).toString("utf8") : "",
      dynamicMetadata: md && Object.keys(md).length > 0 ? md : undefined,
      statuses,
    };
  });
  return { result, cancel: () => call.cancel() };
}
