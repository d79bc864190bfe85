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

  /** The router's one call: this span's context into the upstream request. */
  injectContext(upstream: http.OutgoingHttpHeaders): void {
    inject(this.tracing.driver.propagation, this.context, upstream);
  }

  setTag(name: string, value: string): void {
    (this.early ??= new Map()).set(name, value);
  }

  /**
   * With spawn_upstream_span, the router's child span for its upstream request (Envoy names it
   * "router CLUSTER egress", kind CLIENT); undefined when the HCM does not spawn them. Its context,
   * not this span's, goes into the upstream request.
   */
  spawnUpstream(cluster: string, now: number = Date.now()): UpstreamSpan | undefined {
    if (!this.tracing.spawnUpstreamSpan) return undefined;
    const c = this.context;
    const child: SpanContext = { traceId: c.traceId, spanId: randomId(8), parentId: c.spanId, sampled: c.sampled, tracestate: c.tracestate };
    return new UpstreamSpan(this.tracing, child, `router ${cluster} egress`, this.req.headers, now);
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

/** How the router's upstream request ended, as its span's tags need it. */
export interface UpstreamSpanResult {
  readonly status: number;
  readonly flags: ResponseFlags;
  readonly protocol: string;
  readonly upstreamCluster: string;
  readonly upstreamHost: string | undefined;
  readonly dynamicMetadata: DynamicMetadata | undefined;
}

/** The router's span for its upstream request (Envoy's UpstreamRequest span, finalizeUpstreamSpan's tags). */
export class UpstreamSpan {
  private done = false;

  constructor(
    private readonly tracing: HttpTracing,
    readonly context: SpanContext,
    private readonly name: string,
    private readonly requestHeaders: http.OutgoingHttpHeaders,
    private readonly startMs: number,
  ) {}

  injectContext(upstream: http.OutgoingHttpHeaders): void {
    inject(this.tracing.driver.propagation, this.context, upstream);
  }

  finish(r: UpstreamSpanResult, now: number = Date.now()): void {
    if (this.done) return;
    this.done = true;
    if (this.context.sampled !== true) return;
    const t = this.tracing;
    const tags = new Map<string, string>();
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
