// The two tracers' exporters, as Envoy's drivers send: Zipkin's v2 JSON span list POSTed to
// collector_endpoint on collector_cluster, OTLP/HTTP (ExportTraceServiceRequest, protobuf, or
// JSON when the service's headers ask for it) to http_service's URI on its cluster, and OTLP/gRPC
// (TraceService/Export, a unary call) to grpc_service's cluster. Reports go
// through the proxy's own async client (the cluster's pools, TLS, load balancing); each report has
// a timeout and a bounded response, and its outcome is counted under Envoy's stat names
// (tracing.zipkin.*, tracing.opentelemetry.*).
import type * as http from "node:http";
import { asyncHttpCall } from "../http/async-client.js";
import { grpcUnaryCall } from "../http/async-grpc.js";
import type { Router } from "../http/router.js";
import type { StatsStore } from "../stats.js";
import type { UpstreamCluster } from "../upstream/cluster.js";
import { otlpJson, otlpProtobuf, type OtlpResource } from "./otlp-encode.js";
import { type BatcherOptions, SpanBatcher } from "./span-batcher.js";
import type { FinishedSpan } from "./span.js";
import type { Propagation } from "./propagation.js";
import type { TraceDriver, TraceNode } from "./tracing-config.js";

/** What an exporter needs of the proxy. */
export interface ExportRuntime {
  cluster(name: string): UpstreamCluster | undefined;
  readonly router: Router;
  readonly stats: StatsStore;
  readonly node: TraceNode;
  readonly batching: BatcherOptions;
}

/** Where a report goes. */
export interface ReportTarget {
  readonly cluster: string;
  readonly path: string;
  readonly authority: string;
  readonly timeoutMs: number;
  readonly headers: http.OutgoingHttpHeaders;
}

/** An OTLP/gRPC collector (GrpcService.envoy_grpc). */
export interface GrpcReportTarget {
  readonly cluster: string;
  readonly authority: string;
  readonly timeoutMs: number;
  readonly metadata: Readonly<Record<string, string>>;
}

const MAX_RESPONSE = 64 * 1024;
/** OTLP's trace export method. */
const OTLP_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/** One tracer: its batcher, its report target, its counters. */
export abstract class BatchingDriverBase implements TraceDriver {
  private readonly batcher: SpanBatcher;
  private readonly malformedContexts;

  constructor(
    protected readonly rt: ExportRuntime,
    private readonly prefix: string,
    readonly propagation: Propagation,
    readonly traceId128: boolean,
    readonly sharedSpanContext: boolean,
  ) {
    const c = (n: string) => rt.stats.counter(`${prefix}${n}`);
    this.malformedContexts = c("invalid_trace_context");
    this.batcher = new SpanBatcher(rt.batching, { spansSent: c("spans_sent"), spansDropped: c("spans_dropped"), timerFlushed: c("timer_flushed") }, (spans) => this.send(spans));
  }

  get node(): TraceNode {
    return this.rt.node;
  }

  report(span: FinishedSpan): void {
    this.batcher.add(span);
  }

  malformed(): void {
    this.malformedContexts.inc();
  }

  close(): void {
    this.batcher.close();
  }

  protected counter(name: string): void {
    this.rt.stats.counter(`${this.prefix}${name}`).inc();
  }

  protected abstract send(spans: readonly FinishedSpan[]): Promise<void>;

  /** POSTs `body` to the target; resolves with the status (0: no response), never rejects. */
  protected async post(t: ReportTarget, body: Buffer): Promise<number | undefined> {
    const cluster = this.rt.cluster(t.cluster);
    if (cluster === undefined) return undefined;
    try {
      const r = await asyncHttpCall(this.rt.router, cluster, { method: "POST", path: t.path, authority: t.authority, headers: t.headers, body, timeoutMs: t.timeoutMs, maxResponseBytes: MAX_RESPONSE }).response;
      return r.status;
    } catch {
      return 0;
    }
  }
}

export interface ZipkinSettings {
  readonly target: ReportTarget;
  readonly traceId128: boolean;
  readonly sharedSpanContext: boolean;
}

function endpoint(addr: string): { ipv4?: string; ipv6?: string; port?: number } | undefined {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(addr);
  const ip = m ? m[1] : addr;
  const port = m ? Number(m[2]) : undefined;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(ip)) return port ? { ipv4: ip, port } : { ipv4: ip };
  if (ip.includes(":")) return port ? { ipv6: ip, port } : { ipv6: ip };
  return undefined;
}

/** Zipkin v2 JSON (Envoy's HTTP_JSON collector version). */
export class ZipkinDriver extends BatchingDriverBase {
  constructor(
    rt: ExportRuntime,
    private readonly z: ZipkinSettings,
  ) {
    super(rt, "tracing.zipkin.", "b3", z.traceId128, z.sharedSpanContext);
  }

  protected async send(spans: readonly FinishedSpan[]): Promise<void> {
    const serviceName = this.rt.node.cluster;
    const body = Buffer.from(
      JSON.stringify(
        spans.map((s) => {
          const remote = endpoint(s.remote);
          return {
            traceId: s.traceId,
            ...(s.parentId !== undefined ? { parentId: s.parentId } : {}),
            id: s.spanId,
            kind: s.kind,
            name: s.name,
            timestamp: Math.round(s.startUs),
            duration: Math.round(s.durationUs),
            localEndpoint: { serviceName },
            ...(remote && s.kind === "SERVER" ? { remoteEndpoint: remote } : {}),
            ...(s.shared === true ? { shared: true } : {}),
            tags: Object.fromEntries(s.tags),
          };
        }),
      ),
    );
    const status = await this.post(this.z.target, body);
    if (status === undefined) this.counter("reports_skipped_no_cluster");
    else if (status === 0) this.counter("reports_failed");
    else if (status >= 200 && status < 300) this.counter("reports_sent");
    else this.counter("reports_dropped");
  }
}

export interface OtelSettings {
  readonly target: ReportTarget;
  readonly json: boolean;
  readonly resource: OtlpResource;
}

/** OTLP/HTTP (Envoy's OpenTelemetry tracer with an http_service). */
export class OtelDriver extends BatchingDriverBase {
  constructor(
    rt: ExportRuntime,
    private readonly o: OtelSettings,
  ) {
    super(rt, "tracing.opentelemetry.", "w3c", true, false);
  }

  protected async send(spans: readonly FinishedSpan[]): Promise<void> {
    const body = this.o.json ? otlpJson(this.o.resource, spans) : otlpProtobuf(this.o.resource, spans);
    this.counter("http_reports_sent");
    const status = await this.post(this.o.target, body);
    if (status !== undefined && status >= 200 && status < 300) this.counter("http_reports_success");
    else this.counter("http_reports_failed");
  }
}

export interface OtelGrpcSettings {
  readonly target: GrpcReportTarget;
  readonly resource: OtlpResource;
}

/** OTLP/gRPC (Envoy's OpenTelemetry tracer with a grpc_service, Istio's default): one unary Export per batch. */
export class OtelGrpcDriver extends BatchingDriverBase {
  constructor(
    rt: ExportRuntime,
    private readonly o: OtelGrpcSettings,
  ) {
    super(rt, "tracing.opentelemetry.", "w3c", true, false);
  }

  protected async send(spans: readonly FinishedSpan[]): Promise<void> {
    const t = this.o.target;
    const cluster = this.rt.cluster(t.cluster);
    if (cluster === undefined) {
      this.counter("reports_skipped_no_cluster");
      return;
    }
    const message = otlpProtobuf(this.o.resource, spans);
    // The response (ExportTraceServiceResponse: partial_success) is only counted, never trusted further.
    const r = await grpcUnaryCall(this.rt.router, cluster, { path: OTLP_EXPORT, authority: t.authority, message, timeoutMs: t.timeoutMs, maxResponseBytes: MAX_RESPONSE, metadata: t.metadata }).result;
    this.counter(r.status === 0 ? "grpc_reports_success" : "grpc_reports_failed");
  }
}
