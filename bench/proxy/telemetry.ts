// bench:proxy's telemetry configuration (issue 15): the pieces the control plane generates for the
// mTLS pair's two sides from Istio YAML — mesh config with `accessLogFile` (Istio's text format),
// a zipkin extension provider, and a mesh-wide Telemetry tracing to it at 1% — plus the metrics
// istiod adds by default (the prometheus provider's istio.stats): the HCM's istio.metadata_exchange
// and istio.stats HTTP filters, access_log and tracing, the TCP exchange as the inbound chain's network
// filter and the outbound cluster's filter, all by the generators `tsmesh up` serves, as proto JSON
// for the static bootstraps; the node metadata each side announces; and the Zipkin sink the spans go to.
import { closeSync, existsSync, openSync, readSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Resource } from "../../src/api/resource.js";
import { validateText } from "../../src/api/validate.js";
import { meshFrom, parseMeshConfig } from "../../src/controlplane/mesh-config.js";
import { toProtoJson } from "../../src/envoy/proto-json.js";
import { decodeMessage, fromStruct } from "../../src/envoy/protos.js";
import { parseProxy, proxyNodeId } from "../../src/model/proxy.js";
import { PushContext, pushInputFrom } from "../../src/model/push-context.js";
import { parseTypeUrlAndValue } from "../../src/proxy/typed-struct.js";
import { inboundTcpMetadataExchange, proxyTelemetry, tcpClusterMetadataExchange } from "../../src/xds/gen/telemetry/index.js";
import { ZIPKIN_SINK_IP } from "./settings.js";

/** The Zipkin provider's service, and the outbound cluster Istio names for it (the bootstraps define it). */
const ZIPKIN_HOST = "zipkin.istio-system.svc.cluster.local";
export const ZIPKIN_CLUSTER = `outbound|9411||${ZIPKIN_HOST}`;
/** Percent of requests traced (Istio's default sampling). */
export const TRACE_SAMPLING_PERCENT = 1;

const meshYaml = (accessLogFile: string) => `accessLogFile: ${accessLogFile}
extensionProviders:
- name: zipkin
  zipkin: {service: ${ZIPKIN_HOST}, port: 9411}
`;

const TELEMETRY_YAML = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: zipkin, namespace: istio-system}
spec:
  hosts: [${ZIPKIN_HOST}]
  ports: [{number: 9411, name: http-zipkin, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: ${ZIPKIN_SINK_IP}}]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing:
  - providers: [{name: zipkin}]
    randomSamplingPercentage: ${TRACE_SAMPLING_PERCENT}
`;

/** One side's telemetry, as proto JSON pieces of its bootstrap. */
export interface SideTelemetry {
  /** The Envoy node (id and Istio's node metadata) the side announces: its labels and identity in metrics and peer metadata. */
  node: unknown;
  /** HTTP filters before the router: istio.metadata_exchange first, istio.stats last. */
  httpFilters: unknown[];
  /** The HCM's access_log and tracing. */
  accessLog: unknown[];
  tracing: unknown | undefined;
  /** Server side: the TCP exchange before the HCM. */
  networkFilters: unknown[];
  /** Client side: the TCP exchange as the outbound cluster's filter. */
  clusterFilters: unknown[];
  /** The listener's traffic_direction, as istiod sets it (istio.stats takes its reporter from it). */
  trafficDirection: "INBOUND" | "OUTBOUND";
  /** Client side: the outbound cluster's istio metadata naming the service (istio.stats' destination_service). */
  clusterMetadata?: unknown;
}

/**
 * BENCH_TELEMETRY_OFF=mx,stats,log,tracing: pieces left out of the telemetry pair (to see what each
 * costs; the goal row is only meaningful with none left out, and the report says which were).
 */
export const TELEMETRY_OFF: ReadonlySet<string> = new Set((process.env.BENCH_TELEMETRY_OFF ?? "").split(",").map((x) => x.trim()).filter(Boolean));

const HCM = "envoy.extensions.filters.network.http_connection_manager.v3";
const TYPED_STRUCT_URL = "type.googleapis.com/udpa.type.v1.TypedStruct";

/**
 * Proto JSON of a generated message, with Istio's TypedStruct configs (whose inner types no
 * descriptor prints) in the JSON form a bootstrap carries them in: `{"@type", type_url, value: {…}}`.
 */
function protoJson(type: string, msg: unknown): unknown {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== "object") return v;
    const o = v as Record<string, unknown>;
    if (o["@type"] === TYPED_STRUCT_URL && typeof o.value === "string") {
      const { typeUrl, value } = parseTypeUrlAndValue(Buffer.from(o.value, "base64"));
      return { "@type": TYPED_STRUCT_URL, type_url: typeUrl, value: fromStruct(decodeMessage("google.protobuf.Struct", value)) };
    }
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, walk(x)]));
  };
  return walk(toProtoJson(type, msg as never));
}

/** The telemetry of one side of the mTLS pair (`app` client or server, in namespace bench), logging to `accessLogFile`. */
export function sideTelemetry(side: "client" | "server", ip: string, accessLogFile: string): SideTelemetry {
  const docs = validateText(TELEMETRY_YAML, "bench-telemetry.yaml");
  const bad = docs.filter((d) => !d.valid);
  if (bad.length) throw new Error(`bench telemetry YAML is invalid: ${JSON.stringify(bad.map((d) => d.diagnostics))}`);
  const push = new PushContext(pushInputFrom(docs.map((d) => d.resource as Resource)), meshFrom(parseMeshConfig(meshYaml(accessLogFile), "bench-mesh.yaml")));
  const metadata = { NAME: `${side}-bench`, NAMESPACE: "bench", LABELS: { app: side, version: "v1" }, WORKLOAD_NAME: side, CLUSTER_ID: "Kubernetes", MESH_ID: "cluster.local", INTERCEPTION_MODE: "NONE", INSTANCE_IPS: ip };
  const id = proxyNodeId("sidecar", ip, `${side}-bench`, "bench");
  const proxy = parseProxy({ id, metadata });
  const t = proxyTelemetry(push, proxy).http(side === "server" ? "sidecar-inbound" : "sidecar-outbound");
  if (!t.metadataExchange || t.stats.length !== 1 || t.accessLog.length !== 1 || !t.tracing) {
    throw new Error(`expected metadata exchange, istio.stats, an access log and tracing; got ${JSON.stringify({ mx: !!t.metadataExchange, stats: t.stats.length, logs: t.accessLog.length, tracing: !!t.tracing })}`);
  }
  const mx = inboundTcpMetadataExchange();
  const on = (piece: string) => !TELEMETRY_OFF.has(piece);
  return {
    node: { id, cluster: `${side}.bench`, metadata },
    httpFilters: [...(on("mx") ? [t.metadataExchange] : []), ...(on("stats") ? t.stats : [])].map((f) => protoJson(`${HCM}.HttpFilter`, f)),
    accessLog: on("log") ? t.accessLog.map((a) => protoJson("envoy.config.accesslog.v3.AccessLog", a)) : [],
    tracing: on("tracing") ? protoJson(`${HCM}.HttpConnectionManager.Tracing`, t.tracing) : undefined,
    networkFilters: side === "server" && mx ? [protoJson("envoy.config.listener.v3.Filter", mx)] : [],
    clusterFilters: side === "client" ? [protoJson("envoy.config.cluster.v3.Filter", tcpClusterMetadataExchange())] : [],
    trafficDirection: side === "server" ? "INBOUND" : "OUTBOUND",
    ...(side === "client" ? { clusterMetadata: { filter_metadata: { istio: { services: [{ host: "server.bench.svc.cluster.local", name: "server", namespace: "bench" }] } } } } : {}),
  };
}

/** A Zipkin collector that accepts span batches (POST /api/v2/spans → 202) and counts them. */
export class ZipkinSink {
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly received: { batches: number; bytes: number },
  ) {}

  get batches(): number {
    return this.received.batches;
  }

  get bytes(): number {
    return this.received.bytes;
  }

  static async start(): Promise<ZipkinSink> {
    const received = { batches: 0, bytes: 0 };
    const server = createServer((req, res) => {
      let n = 0;
      req.on("data", (c: Buffer) => (n += c.length));
      req.on("end", () => {
        if (req.method === "POST") {
          received.batches++;
          received.bytes += n;
        }
        res.writeHead(req.method === "POST" ? 202 : 404).end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, ZIPKIN_SINK_IP, () => resolve());
    });
    return new ZipkinSink(server, (server.address() as AddressInfo).port, received);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}

/** Lines in a file (0 when it is missing), read in chunks: an access log can be large. */
function countLines(file: string): number {
  if (!existsSync(file)) return 0;
  const fd = openSync(file, "r");
  const buf = Buffer.alloc(1 << 20);
  let n = 0;
  try {
    for (let got = readSync(fd, buf); got > 0; got = readSync(fd, buf)) {
      for (let i = 0; i < got; i++) if (buf[i] === 10) n++;
    }
  } finally {
    closeSync(fd);
  }
  return n;
}

/** One side's istio_requests_total from its admin /stats/prometheus: series count, requests, and the first series' labels. */
async function requestsTotal(admin: string): Promise<string> {
  try {
    const text = await (await fetch(`${admin}/stats/prometheus`, { signal: AbortSignal.timeout(2000) })).text();
    const series = text.split("\n").filter((l) => l.startsWith("istio_requests_total{"));
    const sum = series.reduce((a, l) => a + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
    return series.length ? `istio_requests_total ${sum} in ${series.length} series (${series[0].slice(0, series[0].lastIndexOf(" "))})` : "no istio_requests_total";
  } catch (e) {
    return `(admin /stats/prometheus failed: ${(e as Error).message})`;
  }
}

/** What the telemetry pair produced over its run: access-log lines, spans at the sink, istio_requests_total per side. */
export async function telemetryNotes(sides: ReadonlyArray<{ label: string; accessLog: string; admin?: string }>, sink: ZipkinSink): Promise<string[]> {
  const out = [`${TELEMETRY_OFF.size ? `LEFT OUT (BENCH_TELEMETRY_OFF): ${[...TELEMETRY_OFF].join(", ")}; ` : ""}Zipkin sink: ${sink.batches} span batches, ${sink.bytes} bytes`];
  for (const s of sides) out.push(`${s.label}: ${countLines(s.accessLog)} access-log lines; ${s.admin ? await requestsTotal(s.admin) : "no admin"}`);
  return out;
}
