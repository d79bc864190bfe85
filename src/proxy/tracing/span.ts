// One proxy's span for one request (Envoy's active span on the connection manager): started when
// the request headers arrive — continuing the caller's context or starting a trace — injected into
// the upstream request by the router, and finished with Envoy's standard tags when the stream ends
// (HttpTracerUtility::finalizeDownstreamSpan's set), then handed to the tracer's exporter.
import type * as http from "node:http";
import { formatFlags, type ResponseFlags } from "../access-log.js";
import type { DynamicMetadata } from "../dynamic-metadata.js";
import { extract, inject, randomId, type SpanContext } from "./propagation.js";
import { decide } from "./sampling.js";
import type { CustomTag, HttpTracing } from "./tracing-config.js";

/** What the exporters get: a finished span. Times in epoch microseconds. */
export interface FinishedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentId: string | undefined;
  readonly name: string;
  readonly kind: "SERVER" | "CLIENT";
  readonly startUs: number;
  readonly durationUs: number;
  readonly tags: ReadonlyMap<string, string>;
  /** The downstream peer ("ip:port"), Zipkin's remoteEndpoint. */
  readonly remote: string;
  /** A server span that reuses its caller's span id (Zipkin's shared_span_context). */
  readonly shared?: boolean;
}

/** The request as the span needs it when it starts. */
export interface SpanRequest {
  /** The stream's headers (x-request-id may be rewritten to carry the trace reason). */
  readonly headers: http.OutgoingHttpHeaders;
  readonly authority: string;
  readonly path: string;
  readonly method: string;
  readonly protocol: string;
  readonly scheme: string;
  /** Envoy's downstream remote address ("ip:port" or ip). */
  readonly downstreamRemoteAddress: string;
}

/**
 * Envoy's classic internal-address test (loopback, RFC 1918, IPv6 ULA and loopback): only an
 * internal peer may force a trace with x-envoy-force-trace.
 */
export function isInternalAddress(addr: string): boolean {
  let ip = addr;
  if (ip.startsWith("[")) ip = ip.slice(1, ip.indexOf("]") >>> 0);
  else if (ip.indexOf(":") === ip.lastIndexOf(":")) ip = ip.split(":")[0];
  ip = ip.replace(/^::ffff:/i, "");
  const m = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(ip);
  if (m) {
    const a = Number(m[1]);
    const b = Number(m[2]);
    return a === 10 || a === 127 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168);
  }
  return ip === "::1" || /^f[cd][0-9a-f]{0,2}:/i.test(ip);
}

/** A random 0–9999 for client sampling (one function, not a closure per request). */
const randomSamplingValue = (): number => Math.floor(Math.random() * 10000);

/** How the stream ended, as the span's final tags need it. */
export interface SpanResult {
  readonly status: number;
  readonly flags: ResponseFlags;
  readonly bytesReceived: number;
  readonly bytesSent: number;
  readonly upstreamCluster: string | undefined;
  readonly upstreamHost: string | undefined;
  /** The downstream or upstream reset the stream (no complete response). */
  readonly reset: boolean;
  readonly dynamicMetadata: DynamicMetadata | undefined;
}

function header(h: http.OutgoingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(",") : String(v);
}

/** A sampled request's span; unsampled requests carry their context forward but record nothing. */
export class ActiveSpan {
  private readonly startMs: number;
  /** Tags set before the finish (made on first use: most spans are unsampled and get none). */
  private early: Map<string, string> | undefined = undefined;
  private done = false;

  private constructor(
    private readonly tracing: HttpTracing,
    readonly context: SpanContext,
    private readonly name: string,
    private readonly req: SpanRequest,
    now: number,
    private readonly shared: boolean,
  ) {
    this.startMs = now;
  }

  /**
   * The span for a request, or undefined when this request is not traced at all (a malformed
   * incoming context: Envoy's tracers answer a null span, and the headers pass on untouched).
   */
  static start(tracing: HttpTracing, req: SpanRequest, now: number = Date.now()): ActiveSpan | undefined {
    const driver = tracing.driver;
    const h = req.headers;
    const force = h["x-envoy-force-trace"] !== undefined && isInternalAddress(req.downstreamRemoteAddress);
    const d = decide(tracing.sampling, header(h, "x-request-id"), force, h["x-client-trace-id"] !== undefined, randomSamplingValue);
    if (d.requestId !== undefined) h["x-request-id"] = d.requestId;
    const found = extract(driver.propagation, h);
    if (found.kind === "malformed") {
      driver.malformed(found.why);
      return undefined;
    }
    const name = tracing.egress ? (driver.propagation === "w3c" ? "egress" : req.authority) : driver.propagation === "w3c" ? "ingress" : req.authority;
    let ctx: SpanContext;
    let shared = false;
    if (found.kind === "context") {
      const parent = found.context;
      const sampled = parent.sampled ?? d.traced;
      // Zipkin's shared_span_context: an inbound server span may reuse the caller's span id.
      if (!tracing.egress && driver.sharedSpanContext) {
        ctx = { ...parent, sampled };
        shared = true;
      }
      else ctx = { traceId: parent.traceId, spanId: randomId(8), parentId: parent.spanId, sampled, tracestate: parent.tracestate };
    } else {
      ctx = { traceId: randomId(driver.traceId128 ? 16 : 8), spanId: randomId(8), sampled: found.sampled ?? d.traced };
    }
    return new ActiveSpan(tracing, ctx, name, req, now, shared);
  }

  get sampled(): boolean {
    return this.context.sampled === true;
  }

  /** spawn_upstream_span: the router makes a child span per try. */
  get spawnsUpstream(): boolean {
    return this.tracing.spawnUpstreamSpan;
  }

  /** The router's one call: this span's context into the upstream request. */
  injectContext(upstream: http.OutgoingHttpHeaders): void {
    inject(this.tracing.driver.propagation, this.context, upstream);
  }

  setTag(name: string, value: string): void {
    (this.early ??= new Map()).set(name, value);
  }

  /**
   * A child span of this one (Envoy's spawnChild): the router's span for a try ("router CLUSTER
   * egress") or for a mirror ("mirror"), kind CLIENT. `sampled` overrides the inherited decision
   * (a mirror policy's trace_sampled). Its context, not this span's, goes into that request.
   */
  spawnChild(name: string, sampled?: boolean, now: number = Date.now()): UpstreamSpan {
    return childSpan(this.tracing, this.context, name, this.req.headers, sampled, now);
  }

  /** The stream ended: Envoy's standard tags, the custom tags, and the span to the exporter. */
  finish(r: SpanResult, now: number = Date.now()): void {
    if (this.done) return;
    this.done = true;
    if (!this.sampled) return;
    const t = this.tracing;
    const req = this.req;
    const h = req.headers;
    const tags = this.early ?? new Map<string, string>();
    const node = t.driver.node;
    tags.set("component", "proxy");
    tags.set("node_id", node.id);
    tags.set("zone", node.zone);
    const rid = header(h, "x-request-id");
    if (rid !== undefined) tags.set("guid:x-request-id", rid);
    const cid = header(h, "x-client-trace-id");
    if (cid !== undefined) tags.set("guid:x-client-trace-id", cid);
    const path = header(h, "x-envoy-original-path") ?? req.path;
    tags.set("http.url", `${req.scheme}://${req.authority}${path}`.slice(0, t.maxPathTagLength));
    tags.set("http.method", req.method);
    tags.set("downstream_cluster", header(h, "x-envoy-downstream-service-cluster") ?? "-");
    tags.set("user_agent", header(h, "user-agent") ?? "-");
    tags.set("http.protocol", req.protocol);
    tags.set("peer.address", req.downstreamRemoteAddress);
    tags.set("request_size", String(r.bytesReceived));
    tags.set("response_size", String(r.bytesSent));
    tags.set("response_flags", formatFlags(r.flags));
    tags.set("http.status_code", String(r.status));
    if (r.upstreamCluster) {
      tags.set("upstream_cluster", r.upstreamCluster);
      tags.set("upstream_cluster.name", r.upstreamCluster);
    }
    if (r.upstreamHost) tags.set("upstream_address", r.upstreamHost);
    // Istio's identity tags (its control plane sends them as literal custom tags; the node has them too).
    for (const [k, v] of node.istioTags) tags.set(k, v);
    for (const c of t.customTags) {
      const v = customTagValue(c, h, r.dynamicMetadata);
      if (v !== undefined) tags.set(c.tag, v);
    }
    if (r.status >= 500 || r.status === 0 || r.reset) tags.set("error", "true");
    const startUs = this.startMs * 1000;
    t.driver.report({
      traceId: this.context.traceId,
      spanId: this.context.spanId,
      parentId: this.context.parentId,
      name: this.name,
      kind: t.egress ? "CLIENT" : "SERVER",
      startUs,
      durationUs: Math.max(1, Math.round((now - this.startMs) * 1000)),
      tags,
      remote: req.downstreamRemoteAddress,
      shared: this.shared,
    });
  }
}

/** How the router's upstream request (one try, or a mirror) ended, as its span's tags need it. */
export interface UpstreamSpanResult {
  /** The response code, 0 when no response came. */
  readonly status: number;
  readonly flags: ResponseFlags;
  /** The upstream protocol ("-" when no connection was made). */
  readonly protocol: string;
  readonly upstreamCluster: string;
  readonly upstreamHost: string | undefined;
  readonly dynamicMetadata: DynamicMetadata | undefined;
  /** grpc-status and grpc-message of the response (headers or trailers), when it had them. */
  readonly grpcStatus?: string;
  readonly grpcMessage?: string;
}

/** The child of `parent` (same trace, new span id) with `name`; the request headers feed the custom tags. */
function childSpan(tracing: HttpTracing, parent: SpanContext, name: string, headers: http.OutgoingHttpHeaders, sampled: boolean | undefined, now: number): UpstreamSpan {
  const child: SpanContext = { traceId: parent.traceId, spanId: randomId(8), parentId: parent.spanId, sampled: sampled ?? parent.sampled, tracestate: parent.tracestate };
  return new UpstreamSpan(tracing, child, name, headers, now);
}

/** gRPC statuses Envoy counts as the server's fault (an error span); the others are the caller's. */
const GRPC_SERVER_ERRORS: ReadonlySet<string> = new Set(["2", "4", "8", "12", "13", "14", "15"]);

/**
 * The router's span for one upstream request (Envoy's UpstreamRequest span, or the async client's
 * mirror span): finalizeUpstreamSpan's tags when it ends, plus those set while it ran (retry.count,
 * error.reason, canceled).
 */
export class UpstreamSpan {
  private done = false;
  private readonly tags = new Map<string, string>();

  constructor(
    private readonly tracing: HttpTracing,
    readonly context: SpanContext,
    private readonly name: string,
    private readonly requestHeaders: http.OutgoingHttpHeaders,
    private readonly startMs: number,
  ) {}

  get sampled(): boolean {
    return this.context.sampled === true;
  }

  injectContext(upstream: http.OutgoingHttpHeaders): void {
    inject(this.tracing.driver.propagation, this.context, upstream);
  }

  /** The headers carrying this span's context, as [name, value] pairs that replace the request's. */
  contextHeaders(): Array<readonly [string, string]> {
    const h: http.OutgoingHttpHeaders = {};
    this.injectContext(h);
    const out: Array<readonly [string, string]> = [];
    for (const k in h) {
      const v = h[k];
      if (v !== undefined) out.push([k, String(v)]);
    }
    return out;
  }

  spawnChild(name: string, sampled?: boolean, now: number = Date.now()): UpstreamSpan {
    return childSpan(this.tracing, this.context, name, this.requestHeaders, sampled, now);
  }

  setTag(name: string, value: string): void {
    this.tags.set(name, value);
  }

  finish(r: UpstreamSpanResult, now: number = Date.now()): void {
    if (this.done) return;
    this.done = true;
    if (this.context.sampled !== true) return;
    const t = this.tracing;
    const tags = this.tags;
    tags.set("http.protocol", r.protocol);
    if (r.upstreamHost) {
      tags.set("upstream_address", r.upstreamHost);
      tags.set("peer.address", r.upstreamHost);
    }
    tags.set("component", "proxy");
    tags.set("upstream_cluster", r.upstreamCluster);
    tags.set("upstream_cluster.name", r.upstreamCluster);
    tags.set("http.status_code", String(r.status));
    tags.set("response_flags", formatFlags(r.flags));
    if (r.status >= 500 || r.status === 0) tags.set("error", "true");
    if (r.grpcStatus !== undefined) {
      tags.set("grpc.status_code", r.grpcStatus);
      if (r.grpcMessage !== undefined) tags.set("grpc.message", r.grpcMessage);
      if (GRPC_SERVER_ERRORS.has(r.grpcStatus)) tags.set("error", "true");
    }
    for (const [k, v] of t.driver.node.istioTags) tags.set(k, v);
    for (const c of t.customTags) {
      const v = customTagValue(c, this.requestHeaders, r.dynamicMetadata);
      if (v !== undefined) tags.set(c.tag, v);
    }
    t.driver.report({
      traceId: this.context.traceId,
      spanId: this.context.spanId,
      parentId: this.context.parentId,
      name: this.name,
      kind: "CLIENT",
      startUs: this.startMs * 1000,
      durationUs: Math.max(1, Math.round((now - this.startMs) * 1000)),
      tags,
      remote: r.upstreamHost ?? "",
    });
  }
}

/** A custom tag's value for this request (undefined: no tag, as Envoy leaves it out). */
function customTagValue(c: CustomTag, h: http.OutgoingHttpHeaders, md: DynamicMetadata | undefined): string | undefined {
  switch (c.kind) {
    case "literal":
      return c.value;
    case "environment":
      return c.value;
    case "header":
      return header(h, c.name) ?? c.defaultValue;
    case "metadata": {
      const v = md?.lookup(c.namespace, c.path);
      if (v === undefined || v === null) return c.defaultValue;
      return typeof v === "string" ? v : JSON.stringify(v);
    }
  }
}
