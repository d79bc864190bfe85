// The proxy's tracers (Envoy's tracer manager): one driver per distinct provider config, shared by
// every connection manager naming it, so spans from all listeners batch into the same reports.
// Provider configs are checked here (what is refused names its field); drivers stop with the proxy.
import type * as http from "node:http";
import { durationMs } from "../../envoy/protos.js";
import type * as v3 from "../../envoy/types.js";
import { XdsConfigError } from "../xds-error.js";
import { BatchingDriverBase, type ExportRuntime, type GrpcReportTarget, OtelDriver, OtelGrpcDriver, type ReportTarget, ZipkinDriver } from "./exporters.js";
import type { TraceDriver, TraceDrivers, TraceNode } from "./tracing-config.js";

/** Envoy's Zipkin and OTLP report timeout (5 s). */
const REPORT_TIMEOUT_MS = 5000;
/** Distinct provider configs kept at once; past it the oldest driver flushes and stops. */
const MAX_DRIVERS = 16;

/** The node's identity for span tags, from the bootstrap node (Istio's metadata keys). */
export function traceNode(node: { id: string; cluster?: string; metadata?: Record<string, unknown>; locality?: { zone?: string } }): TraceNode {
  const md = node.metadata ?? {};
  const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
  const labels = (md.LABELS ?? {}) as Record<string, unknown>;
  const tags = new Map<string, string>();
  const add = (k: string, v: string | undefined) => v !== undefined && tags.set(k, v);
  add("istio.canonical_service", str(labels["service.istio.io/canonical-name"]) ?? str(labels.app) ?? str(md.WORKLOAD_NAME));
  add("istio.canonical_revision", str(labels["service.istio.io/canonical-revision"]) ?? str(labels.version));
  add("istio.mesh_id", str(md.MESH_ID));
  add("istio.namespace", str(md.NAMESPACE));
  return { id: node.id, cluster: node.cluster ?? "", zone: node.locality?.zone ?? "", istioTags: tags };
}

/** A GrpcService (envoy_grpc only: the proxy's own clusters) as an OTLP/gRPC report target. */
function grpcTarget(g: v3.envoy.config.core.v3.GrpcService, path: string): GrpcReportTarget {
  if (g.googleGrpc !== undefined) throw new XdsConfigError(`${path}.googleGrpc`, "google_grpc is not implemented by tsmesh (envoy_grpc is)");
  const e = g.envoyGrpc;
  if (e === undefined) throw new XdsConfigError(`${path}.envoyGrpc`, "expected envoy_grpc naming the collector's cluster");
  if (e.retryPolicy !== undefined) throw new XdsConfigError(`${path}.envoyGrpc.retryPolicy`, "retries of trace reports are not implemented by tsmesh");
  if (g.retryPolicy !== undefined) throw new XdsConfigError(`${path}.retryPolicy`, "retries of trace reports are not implemented by tsmesh");
  const cluster = e.clusterName ?? "";
  if (!cluster) throw new XdsConfigError(`${path}.envoyGrpc.clusterName`, "expected the collector's cluster");
  const metadata: Record<string, string> = {};
  (g.initialMetadata ?? []).forEach((h, i) => {
    const k = (h.key ?? "").toLowerCase();
    if (!/^[0-9a-z_.-]+$/.test(k) || k.startsWith("grpc-") || k === "te" || k === "content-type") throw new XdsConfigError(`${path}.initialMetadata[${i}].key`, `'${h.key ?? ""}' is not a metadata key a call may set`);
    metadata[k] = h.value ?? "";
  });
  // Envoy's default: the call times out only when the service gives a timeout; reports still need a bound.
  const timeoutMs = durationMs(g.timeout) || REPORT_TIMEOUT_MS;
  return { cluster, authority: e.authority || cluster, timeoutMs, metadata };
}

export class TracerRegistry implements TraceDrivers {
  private readonly drivers = new Map<string, BatchingDriverBase>();

  constructor(private readonly rt: ExportRuntime) {}

  private shared(key: string, make: () => BatchingDriverBase): TraceDriver {
    const have = this.drivers.get(key);
    if (have !== undefined) return have;
    const d = make();
    this.drivers.set(key, d);
    if (this.drivers.size > MAX_DRIVERS) {
      const [oldest, od] = this.drivers.entries().next().value as [string, BatchingDriverBase];
      this.drivers.delete(oldest);
      od.close();
    }
    return d;
  }

  zipkin(c: v3.envoy.config.trace.v3.ZipkinConfig, path: string): TraceDriver {
    const cluster = c.collectorCluster ?? "";
    if (!cluster) throw new XdsConfigError(`${path}.collectorCluster`, "a Zipkin tracer needs collector_cluster");
    const ep = c.collectorEndpoint ?? "";
    if (!ep.startsWith("/")) throw new XdsConfigError(`${path}.collectorEndpoint`, "a Zipkin tracer needs collector_endpoint, a path");
    const version = c.collectorEndpointVersion ?? "HTTP_JSON";
    if (version !== "HTTP_JSON") throw new XdsConfigError(`${path}.collectorEndpointVersion`, `Zipkin ${String(version)} reports are not implemented by tsmesh (HTTP_JSON is)`);
    if (c.splitSpansForRequest === true) throw new XdsConfigError(`${path}.splitSpansForRequest`, "not implemented by tsmesh");
    const target: ReportTarget = { cluster, path: ep, authority: c.collectorHostname || cluster, timeoutMs: REPORT_TIMEOUT_MS, headers: { "content-type": "application/json" } };
    const traceId128 = c.traceId_128bit === true;
    // Envoy's default shares the span context (a server span reuses the client's id) unless told not to.
    const sharedSpanContext = c.sharedSpanContext?.value !== false;
    return this.shared(`zipkin ${JSON.stringify([target, traceId128, sharedSpanContext])}`, () => new ZipkinDriver(this.rt, { target, traceId128, sharedSpanContext }));
  }

  openTelemetry(c: v3.envoy.config.trace.v3.OpenTelemetryConfig, path: string): TraceDriver {
    if (c.resourceDetectors?.length) throw new XdsConfigError(`${path}.resourceDetectors`, "resource detectors are not implemented by tsmesh");
    if (c.sampler !== undefined) throw new XdsConfigError(`${path}.sampler`, "custom OpenTelemetry samplers are not implemented by tsmesh");
    const serviceName = c.serviceName || "unknown_service:envoy";
    const resource = { serviceName, attributes: new Map<string, string>() };
    if (c.grpcService !== undefined) {
      if (c.httpService !== undefined) throw new XdsConfigError(`${path}.httpService`, "only one of grpc_service and http_service");
      const target = grpcTarget(c.grpcService, `${path}.grpcService`);
      return this.shared(`otel-grpc ${JSON.stringify([target, serviceName])}`, () => new OtelGrpcDriver(this.rt, { target, resource }));
    }
    const hs = c.httpService;
    if (hs === undefined) throw new XdsConfigError(`${path}.httpService`, "an OpenTelemetry tracer needs http_service or grpc_service");
    const uri = hs.httpUri?.uri ?? "";
    const cluster = hs.httpUri?.cluster ?? "";
    if (!cluster) throw new XdsConfigError(`${path}.httpService.httpUri.cluster`, "expected the collector's cluster");
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      throw new XdsConfigError(`${path}.httpService.httpUri.uri`, `not a URL: '${uri}'`);
    }
    const timeoutMs = durationMs(hs.httpUri?.timeout) ?? REPORT_TIMEOUT_MS;
    const headers: http.OutgoingHttpHeaders = {};
    (hs.requestHeadersToAdd ?? []).forEach((o, i) => {
      const k = (o.header?.key ?? "").toLowerCase();
      if (!k || k.startsWith(":")) throw new XdsConfigError(`${path}.httpService.requestHeadersToAdd[${i}].header.key`, "expected a header name");
      headers[k] = o.header?.value ?? "";
    });
    // OTLP/HTTP's default body is protobuf; a configured content-type of JSON asks for OTLP/JSON.
    const json = String(headers["content-type"] ?? "").startsWith("application/json");
    headers["content-type"] = json ? "application/json" : "application/x-protobuf";
    const target: ReportTarget = { cluster, path: `${url.pathname}${url.search}`, authority: url.host, timeoutMs: timeoutMs || REPORT_TIMEOUT_MS, headers };
    return this.shared(`otel ${JSON.stringify([target, json, serviceName])}`, () => new OtelDriver(this.rt, { target, json, resource }));
  }

  /** Stops every driver's timer; pending spans go out in a last report. */
  close(): void {
    for (const d of this.drivers.values()) d.close();
    this.drivers.clear();
  }
}
