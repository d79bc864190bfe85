// The HTTP filter interface (Envoy's StreamDecoderFilter / StreamEncoderFilter): what every filter
// of an http_connection_manager implements, what the filter manager gives it, and how filter
// implementations register by the type URL of their config. Filters run in the order the config
// lists them for the request (decode) and in reverse order for the response (encode); each call may
// continue the iteration or stop it until the filter continues (an async check, a delay), and a
// filter may answer the request itself with a local reply. The router is the terminal filter.
import type { StreamSinks } from "../stream-sinks.js";
import type { HttpStreamInfo } from "../stream-info.js";
import type * as http from "node:http";
import type * as net from "node:net";
import type * as tls from "node:tls";
import type { Logger } from "../../core/log.js";
import type { Any } from "../../envoy/types.js";
import { ExtensionRegistry } from "../extensions.js";
import type { ConnectionInfo } from "../listener-spec.js";
import type { StatsScope } from "../stats.js";
import type { DynamicMetadata } from "../dynamic-metadata.js";
import type { ResponseFlag } from "../access-log.js";
import type { UpstreamCluster } from "../upstream/cluster.js";
import type { TokenBucketStore } from "../ratelimit/token-bucket.js";
import type { Downstream, DownstreamProtocol, Reply, RequestBody, StreamAbort } from "./downstream.js";
import type { ResolvedRoute } from "./route-glue.js";
import type { Router } from "./router.js";
import type { ActiveSpan } from "../tracing/span.js";

/** What a headers or trailers call answers (Envoy's FilterHeadersStatus / FilterTrailersStatus). */
export const enum FilterStatus {
  /** The next filter runs now. */
  Continue = 0,
  /** The iteration stops here until the filter calls continueDecoding / continueEncoding. */
  StopIteration = 1,
}

/** What a data call answers (Envoy's FilterDataStatus). */
export const enum DataStatus {
  Continue = 0,
  /**
   * This chunk and later ones are held (bounded by the buffer limit: past it the request gets
   * 413, the response 500) and go on together when the filter continues or at the end of stream.
   */
  StopIterationAndBuffer = 1,
  /** The chunk is the filter's to keep; nothing is passed on until it continues. */
  StopIterationNoBuffer = 2,
}

/** The downstream request as filters see it. `headers` is the stream's own (mutable) header map. */
export interface FilterRequest {
  readonly protocol: DownstreamProtocol;
  readonly method: string;
  /** :authority / Host as the client sent it. */
  readonly authority: string;
  /** :path with the query, as the client sent it. */
  readonly path: string;
  readonly scheme: string;
  /** Regular request headers, lowercase names, no pseudo-headers; filters may change them. */
  readonly headers: http.OutgoingHttpHeaders;
  /** The downstream peer address (IP): the socket's peer. */
  readonly remote: string;
  /**
   * Envoy's downstream remote address: the client address the HCM trusts — from X-Forwarded-For
   * per use_remote_address and xff_num_trusted_hops, else the peer (RBAC's remote_ip).
   */
  readonly downstreamRemoteAddress: string;
  /** The connection the request came on (addresses, listener). */
  readonly connection: ConnectionInfo;
  /** content-type application/grpc…: local replies become gRPC statuses. */
  readonly grpc: boolean;
  /** The Upgrade header of an allowed HTTP/1.1 upgrade (e.g. "websocket"). */
  readonly upgrade?: string;
  /** The TLS socket when the listener terminated TLS (peer certificate, SANs). */
  readonly tls?: tls.TLSSocket;
  /** The stream's span when the connection manager traces (the router injects its context). */
  readonly activeSpan?: ActiveSpan;
}

/** What the filter manager offers one filter instance. */
export interface FilterCallbacks {
  readonly request: FilterRequest;
  /** The route the request matched (Envoy's cached route); undefined when none did. */
  route(): ResolvedRoute | undefined;
  /** Forgets the matched route: the next route() matches again (after a filter changed headers). */
  clearRouteCache(): void;
  /**
   * Replaces the request's :path (with its query) before the router has it — Envoy's
   * setPath on the request headers (ext_authz's query parameter mutations). Call clearRouteCache
   * too when the route may change.
   */
  setPath(path: string): void;
  /**
   * This filter's typed_per_filter_config on the matched route (weighted cluster, route, virtual
   * host, route configuration: the most specific wins), as its extension compiled it.
   */
  perRouteConfig<T>(): T | undefined;
  /** Resumes the request iteration after this filter stopped it. */
  continueDecoding(): void;
  /** Resumes the response iteration after this filter stopped it. */
  continueEncoding(): void;
  /**
   * Answers the request here (Envoy's sendLocalReply): the filters before this one see the response
   * (encode), no filter after it runs. Resets the stream instead if the response already started.
   */
  sendLocalReply(reply: Reply, headers?: http.OutgoingHttpHeaders): void;
  /** Adds an Envoy response flag to the stream (access log %RESPONSE_FLAGS%). */
  setResponseFlag(flag: ResponseFlag): void;
  /** The stream's dynamic metadata: what earlier filters wrote, where this one writes. */
  readonly dynamicMetadata: DynamicMetadata;
  /**
   * The stream's filter state (Envoy's FilterState; StreamInfo.filterState): Istio's
   * "downstream_peer" / "upstream_peer". The connection's entries (a network filter's) are in it too.
   */
  readonly filterState: Map<string, unknown>;
  /** The terminal filter's view: the response goes through the encoder filters to the client. */
  readonly downstream: Downstream;
  /** The terminal filter's view: the request body, after the decoder filters. */
  readonly body: RequestBody;
  /**
   * The stream's timers (idle, request, max duration) stop it through this: a terminal filter that
   * has the stream upstream listens and answers the stop itself.
   */
  readonly abort: StreamAbort;
  /** The terminal filter's end of the stream: what the access log and stats record. */
  streamComplete(result: StreamResult): void;
}

/** How a stream ended, for the access log and the HCM's stats. */
export interface StreamResult {
  /** An internal error stopped the stream (the HCM answers 500 when it still can). */
  error?: Error;
  /** Status sent downstream (0 when the downstream went away first). */
  status: number;
  flags: number;
  upstreamHost?: string;
  upstreamServiceTimeMs?: number;
  bytesSent: number;
  details: string;
  grpcStatus?: number;
  /** The cluster the stream was forwarded to (the router's), for the stream's record. */
  cluster?: UpstreamCluster;
  /** Response headers as sent downstream (the router's relay). */
  responseHeaders?: http.OutgoingHttpHeaders;
  /** Why the last upstream connection failed, when one did. */
  transportFailureReason?: string;
  /** The upstream connection the response came on. */
  upstreamSocket?: net.Socket;
  /** gRPC messages relayed in the response (gRPC streams). */
  responseMessages?: number;
}

/**
 * One filter instance for one stream. Every method is optional: a filter implements the phases it
 * takes part in, and the manager calls nothing else (an instance may add a response method while it
 * decodes, as CORS does for the requests it answers). Request headers come with `endStream` when
 * the request has no body.
 */
export interface HttpFilter {
  decodeHeaders?(headers: http.OutgoingHttpHeaders, endStream: boolean): FilterStatus;
  decodeData?(chunk: Buffer, endStream: boolean): DataStatus;
  decodeTrailers?(trailers: http.IncomingHttpHeaders): FilterStatus;
  encodeHeaders?(status: number, headers: http.OutgoingHttpHeaders, endStream: boolean): FilterStatus;
  encodeData?(chunk: Buffer, endStream: boolean): DataStatus;
  encodeTrailers?(trailers: http.IncomingHttpHeaders): FilterStatus;
  /** The stream is over (complete, reset or abandoned): release timers and calls in flight. */
  onDestroy?(): void;
  /**
   * Envoy's AccessLog::Instance on a filter (istio.stats counts here): called once with the finished
   * stream's record, after the response (or reset) and before onDestroy.
   */
  onLog?(info: HttpStreamInfo): void;
}

/** A configured filter of one http_connection_manager (compiled when the listener arrives). */
export interface HttpFilterFactory {
  /** HttpFilter.name: the key of its typed_per_filter_config. */
  readonly name: string;
  /** The router and other filters that end the chain. */
  readonly terminal: boolean;
  /** HttpFilter.disabled: runs only on routes whose FilterConfig enables it. */
  readonly disabledByDefault: boolean;
  create(cb: FilterCallbacks): HttpFilter;
}

/** What the proxy offers filters that forward (the router): its clusters and its router. */
export interface FilterRuntime {
  cluster(name: string): UpstreamCluster | undefined;
  readonly router: Router;
  /** The proxy's service cluster (node.cluster: Envoy's local_info clusterName). */
  readonly localCluster?: string;
  /**
   * The local rate limit's token buckets, proxy-wide (under `--concurrency N` the primary holds
   * them); absent: the process's own.
   */
  readonly tokenBuckets?: TokenBucketStore;
  /**
   * The proxy's node id and metadata (Envoy's local_info; Istio's NAME, NAMESPACE, LABELS,
   * WORKLOAD_NAME…): what metadata exchange sends about it, istio.stats' local side.
   */
  readonly localNode?: { readonly id: string; readonly metadata: Readonly<Record<string, unknown>> };
  /** One of the proxy's named loggers (PROXY_LOGGERS), for filters that log as Envoy's do. */
  logger?(name: string): Logger;
  /** Proxy-wide observers of finished streams (`tsmesh tap`); absent: none. */
  readonly streamSinks?: StreamSinks;
}

/** What an HTTP filter's config is compiled with. */
export interface FilterContext {
  /** HttpFilter.name. */
  readonly name: string;
  /** `http.<stat_prefix>.` — where the filter's own stats go. */
  readonly stats: StatsScope;
  /** Field path of the config, for errors. */
  readonly path: string;
  /** The connection manager the filter runs in. */
  readonly hcm: { readonly serverName: string; readonly localReplyHeaders: http.OutgoingHttpHeaders; readonly bufferLimitBytes: number };
  readonly runtime: FilterRuntime;
}

/**
 * One HTTP filter implementation, registered by its config type URL(s). `C` is the typed message
 * of its typed_config, `R` of its per-route config (typed_per_filter_config).
 */
export interface HttpFilterExtension<C = Any, R = Any> {
  readonly terminal: boolean;
  /** Compiles the filter's typed_config; throws XdsConfigError (with a field path) on bad config. */
  create(config: C, ctx: FilterContext): Omit<HttpFilterFactory, "name" | "terminal" | "disabledByDefault">;
  /** The per-route config types it takes in typed_per_filter_config, and their compiler. */
  /**
   * The per-route config types it takes in typed_per_filter_config, and their compiler. `where`
   * names the route configuration the config is in (state a per-route config keeps, such as a
   * rate limiter's buckets, is keyed by it and the path).
   */
  readonly perRoute?: { readonly types: readonly string[]; compile(config: R, path: string, where: string): unknown };
}

/** The HTTP filters the proxy implements, by config type URL. */
export const HTTP_FILTERS = new ExtensionRegistry<HttpFilterExtension>("http filter");

/** Per-route filter configs (typed_per_filter_config) the proxy understands, by type URL. */
export const HTTP_PER_ROUTE_CONFIGS = new ExtensionRegistry<(config: Any, path: string, where: string) => unknown>("per-route filter config");

/**
 * Registers an HTTP filter implementation (and its per-route config types). The registries hand
 * an implementation only a decoded Any whose "@type" is one of the types it registered, so this is
 * the one place a config is typed as the message `C` (or `R`) those types name.
 */
export function registerHttpFilter<C, R = never>(types: readonly string[], ext: HttpFilterExtension<C, R>): void {
  HTTP_FILTERS.register(types, { terminal: ext.terminal, create: (config, ctx) => ext.create(config as C, ctx) });
  const perRoute = ext.perRoute;
  if (perRoute) HTTP_PER_ROUTE_CONFIGS.register(perRoute.types, (config, path, where) => perRoute.compile(config as R, path, where));
}
