// Trace collectors for tests: a Zipkin v2 receiver (POST /api/v2/spans, a JSON list of spans) and
// an OTLP/HTTP receiver (POST /v1/traces, ExportTraceServiceRequest as protobuf or OTLP/JSON). Each
// decodes strictly with the format's published schema — Zipkin's zipkin2-api.yaml Span fields and
// types, opentelemetry-proto's trace/common/resource messages (protobufjs over the .proto text;
// a protobuf body must re-encode to the same bytes, so unknown or misplaced fields fail) — and
// answers 400 to anything else, so a test sees both the spans and any malformed report.
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import protobuf from "protobufjs";

/** A span as the tests compare them, from either receiver. */
export interface ReceivedSpan {
  traceId: string;
  id: string;
  parentId: string | undefined;
  name: string;
  kind: string;
  /** Epoch microseconds. */
  timestamp: number;
  duration: number;
  serviceName: string;
  tags: Record<string, string>;
  /** Zipkin's `shared` (a server span reusing its client's id); false from OTLP. */
  shared: boolean;
}

export interface TraceReceiver {
  readonly port: number;
  readonly spans: ReceivedSpan[];
  /** Reports accepted, and bodies refused (with why). */
  readonly reports: number;
  readonly rejected: string[];
  readonly contentTypes: string[];
  close(): Promise<void>;
}

const HEX16 = /^[0-9a-f]{16}$/;
const HEX32 = /^[0-9a-f]{32}$/;
const ZIPKIN_KEYS = new Set(["traceId", "name", "parentId", "id", "kind", "timestamp", "duration", "debug", "shared", "localEndpoint", "remoteEndpoint", "annotations", "tags"]);
const ENDPOINT_KEYS = new Set(["serviceName", "ipv4", "ipv6", "port"]);
const KINDS = new Set(["CLIENT", "SERVER", "PRODUCER", "CONSUMER"]);

function fail(why: string): never {
  throw new Error(why);
}

function checkEndpoint(e: unknown, at: string): { serviceName?: string } {
  if (e === null || typeof e !== "object" || Array.isArray(e)) fail(`${at}: not an object`);
  for (const [k, v] of Object.entries(e)) {
    if (!ENDPOINT_KEYS.has(k)) fail(`${at}.${k}: not a Zipkin Endpoint field`);
    if (k === "port" ? !Number.isInteger(v) : typeof v !== "string") fail(`${at}.${k}: wrong type`);
  }
  return e as { serviceName?: string };
}

/** Zipkin v2 (zipkin2-api.yaml, ListOfSpans): every field name and type checked. */
export function decodeZipkinV2(body: Buffer): ReceivedSpan[] {
  const list: unknown = JSON.parse(body.toString("utf8"));
  if (!Array.isArray(list)) fail("not a list of spans");
  return list.map((s: unknown, i) => {
    const at = `[${i}]`;
    if (s === null || typeof s !== "object" || Array.isArray(s)) fail(`${at}: not an object`);
    const o = s as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!ZIPKIN_KEYS.has(k)) fail(`${at}.${k}: not a Zipkin v2 span field`);
    const traceId = o.traceId;
    if (typeof traceId !== "string" || !(HEX16.test(traceId) || HEX32.test(traceId))) fail(`${at}.traceId: expected 16 or 32 lowercase hex`);
    if (typeof o.id !== "string" || !HEX16.test(o.id)) fail(`${at}.id: expected 16 lowercase hex`);
    if (o.parentId !== undefined && (typeof o.parentId !== "string" || !HEX16.test(o.parentId))) fail(`${at}.parentId: expected 16 lowercase hex`);
    if (o.kind !== undefined && !KINDS.has(o.kind as string)) fail(`${at}.kind: not a Zipkin kind`);
    if (o.name !== undefined && typeof o.name !== "string") fail(`${at}.name: expected a string`);
    for (const k of ["shared", "debug"]) if (o[k] !== undefined && typeof o[k] !== "boolean") fail(`${at}.${k}: expected a boolean`);
    for (const k of ["timestamp", "duration"]) if (o[k] !== undefined && !(Number.isInteger(o[k]) && (o[k] as number) > 0)) fail(`${at}.${k}: expected a positive integer (microseconds)`);
    const tags = o.tags ?? {};
    if (tags === null || typeof tags !== "object" || Array.isArray(tags)) fail(`${at}.tags: not an object`);
    for (const [k, v] of Object.entries(tags)) if (typeof v !== "string") fail(`${at}.tags.${k}: expected a string`);
    const local = o.localEndpoint === undefined ? {} : checkEndpoint(o.localEndpoint, `${at}.localEndpoint`);
    if (o.remoteEndpoint !== undefined) checkEndpoint(o.remoteEndpoint, `${at}.remoteEndpoint`);
    return { traceId, id: o.id, parentId: o.parentId as string | undefined, name: (o.name as string | undefined) ?? "", kind: (o.kind as string | undefined) ?? "", timestamp: o.timestamp as number, duration: o.duration as number, serviceName: local.serviceName ?? "", tags: tags as Record<string, string>, shared: o.shared === true };
  });
}

// opentelemetry-proto v1 (collector/trace/v1/trace_service.proto, trace/v1/trace.proto,
// common/v1/common.proto, resource/v1/resource.proto): the messages an export uses, field numbers
// and types as published.
const OTLP_PROTO = `
syntax = "proto3";
package opentelemetry.proto;
message AnyValue {
  oneof value {
    string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
    ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; fixed32 flags = 16;
  string name = 5;
  enum SpanKind { SPAN_KIND_UNSPECIFIED = 0; SPAN_KIND_INTERNAL = 1; SPAN_KIND_SERVER = 2; SPAN_KIND_CLIENT = 3; SPAN_KIND_PRODUCER = 4; SPAN_KIND_CONSUMER = 5; }
  SpanKind kind = 6;
  fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9; uint32 dropped_attributes_count = 10;
  message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
  repeated Event events = 11; uint32 dropped_events_count = 12;
  message Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; uint32 dropped_attributes_count = 5; fixed32 flags = 6; }
  repeated Link links = 13; uint32 dropped_links_count = 14;
  Status status = 15;
}
message Status { reserved 1; string message = 2; enum StatusCode { STATUS_CODE_UNSET = 0; STATUS_CODE_OK = 1; STATUS_CODE_ERROR = 2; } StatusCode code = 3; }
`;

let exportType: protobuf.Type | undefined;
function otlpType(): protobuf.Type {
  return (exportType ??= protobuf.parse(OTLP_PROTO, { keepCase: false }).root.lookupType("opentelemetry.proto.ExportTraceServiceRequest"));
}

const KIND_NAMES = ["SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"];

interface OtlpObject {
  resourceSpans?: Array<{
    resource?: { attributes?: Array<{ key: string; value?: { stringValue?: string } }> };
    scopeSpans?: Array<{ spans?: Array<Record<string, unknown>> }>;
  }>;
}

function stringAttrs(list: Array<{ key: string; value?: { stringValue?: string } }> | undefined, at: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) {
    if (typeof kv.value?.stringValue !== "string") fail(`${at}.${kv.key}: expected a string value`);
    out[kv.key] = kv.value.stringValue;
  }
  return out;
}

function fromOtlp(obj: OtlpObject): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of obj.resourceSpans ?? []) {
    const res = stringAttrs(rs.resource?.attributes, "resource");
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        const traceId = String(s.traceId ?? "");
        const id = String(s.spanId ?? "");
        if (!HEX32.test(traceId)) fail("span.trace_id: expected 16 bytes");
        if (!HEX16.test(id)) fail("span.span_id: expected 8 bytes");
        const parent = s.parentSpanId === undefined || s.parentSpanId === "" ? undefined : String(s.parentSpanId);
        if (parent !== undefined && !HEX16.test(parent)) fail("span.parent_span_id: expected 8 bytes");
        const start = BigInt(String(s.startTimeUnixNano ?? "0"));
        const end = BigInt(String(s.endTimeUnixNano ?? "0"));
        if (start <= 0n || end < start) fail("span times: expected start > 0 and end >= start");
        const kind = typeof s.kind === "number" ? KIND_NAMES[s.kind] : String(s.kind);
        out.push({ traceId, id, parentId: parent, name: String(s.name ?? ""), kind: (kind ?? "").replace("SPAN_KIND_", ""), timestamp: Number(start / 1000n), duration: Number((end - start) / 1000n), serviceName: res["service.name"] ?? "", tags: stringAttrs(s.attributes as Array<{ key: string; value?: { stringValue?: string } }>, "span.attributes"), shared: false });
      }
    }
  }
  return out;
}

/** OTLP protobuf: decoded with the published schema; the bytes must be exactly what the schema re-encodes. */
export function decodeOtlpProtobuf(body: Buffer): ReceivedSpan[] {
  const t = otlpType();
  const msg = t.decode(body);
  const again = Buffer.from(t.encode(msg).finish());
  if (!again.equals(body)) fail("the body has fields the ExportTraceServiceRequest schema does not (or not in its encoding)");
  const obj = t.toObject(msg, { longs: String, enums: Number, bytes: String, defaults: false }) as OtlpObject;
  // (bytes as base64 from protobufjs: ids back to hex.)
  for (const rs of obj.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) for (const k of ["traceId", "spanId", "parentSpanId"]) if (typeof s[k] === "string") s[k] = Buffer.from(s[k], "base64").toString("hex");
  return fromOtlp(obj);
}

/** OTLP/JSON: protobuf's JSON mapping of the same schema (unknown fields refused by fromObject's verify). */
export function decodeOtlpJson(body: Buffer): ReceivedSpan[] {
  const obj = JSON.parse(body.toString("utf8")) as OtlpObject;
  // OTLP/JSON ids are hex (not base64): check the rest of the message against the schema without them.
  const check = JSON.parse(JSON.stringify(obj)) as OtlpObject;
  for (const rs of check.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) for (const k of ["traceId", "spanId", "parentSpanId"]) delete s[k];
  const why = verifyKnown(otlpType(), check, "request");
  if (why) fail(why);
  return fromOtlp(obj);
}

/** Every key of `obj` is a field of `t` (recursively); protobufjs' verify checks the types. */
function verifyKnown(t: protobuf.Type, obj: unknown, at: string): string | null {
  if (obj === null || typeof obj !== "object") return `${at}: not an object`;
  for (const [k, v] of Object.entries(obj)) {
    const f = t.fields[k] ?? t.oneofsArray.flatMap((o) => o.fieldsArray).find((x) => x.name === k);
    if (f === undefined) return `${at}.${k}: not a field of ${t.name}`;
    f.resolve();
    if (f.resolvedType instanceof protobuf.Type) {
      const items = f.repeated ? (Array.isArray(v) ? v : [null]) : [v];
      for (const [i, item] of items.entries()) {
        const why = verifyKnown(f.resolvedType, item, `${at}.${k}[${i}]`);
        if (why) return why;
      }
    }
  }
  return null;
}

/** Where a receiver listens (default: 127.0.0.1, any port). */
export interface ReceiverAddress {
  host?: string;
  port?: number;
}

async function receiver(path: string, at: ReceiverAddress, decode: (body: Buffer, contentType: string) => ReceivedSpan[]): Promise<TraceReceiver> {
  const spans: ReceivedSpan[] = [];
  const rejected: string[] = [];
  const contentTypes: string[] = [];
  let reports = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= 4 << 20) chunks.push(c);
    });
    req.on("end", () => {
      const ct = String(req.headers["content-type"] ?? "");
      contentTypes.push(ct);
      try {
        if (req.method !== "POST" || req.url !== path) fail(`${req.method} ${req.url}: expected POST ${path}`);
        spans.push(...decode(Buffer.concat(chunks), ct));
        reports++;
        res.writeHead(202).end();
      } catch (e) {
        rejected.push((e as Error).message);
        res.writeHead(400).end((e as Error).message);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(at.port ?? 0, at.host ?? "127.0.0.1", resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    spans,
    rejected,
    contentTypes,
    get reports() {
      return reports;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A Zipkin collector's /api/v2/spans (JSON only, as Envoy's HTTP_JSON sends). */
export function zipkinReceiver(at: ReceiverAddress = {}): Promise<TraceReceiver> {
  return receiver("/api/v2/spans", at, (body, ct) => {
    if (!ct.startsWith("application/json")) fail(`content-type ${ct}: expected application/json`);
    return decodeZipkinV2(body);
  });
}

/** An OTLP/HTTP collector's /v1/traces (protobuf or JSON by content-type, as OTLP/HTTP says). */
export function otlpReceiver(at: ReceiverAddress = {}): Promise<TraceReceiver> {
  return receiver("/v1/traces", at, (body, ct) => {
    if (ct.startsWith("application/x-protobuf")) return decodeOtlpProtobuf(body);
    if (ct.startsWith("application/json")) return decodeOtlpJson(body);
    return fail(`content-type ${ct}: expected application/x-protobuf or application/json`);
  });
}

/**
 * An OTLP/gRPC collector (opentelemetry-proto's collector/trace/v1 TraceService/Export, a unary
 * call) on a real grpc-js server: each request decoded with the published schema as above; a
 * request that does not decode is answered INVALID_ARGUMENT and recorded as rejected.
 */
export async function otlpGrpcReceiver(at: ReceiverAddress = {}): Promise<TraceReceiver & { readonly metadata: grpc.Metadata[] }> {
  const spans: ReceivedSpan[] = [];
  const rejected: string[] = [];
  const metadata: grpc.Metadata[] = [];
  let reports = 0;
  const server = new grpc.Server();
  const raw = (b: Buffer): Buffer => b;
  server.addService(
    {
      Export: {
        path: "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        requestStream: false,
        responseStream: false,
        requestSerialize: raw,
        requestDeserialize: raw,
        responseSerialize: raw,
        responseDeserialize: raw,
      },
    },
    {
      Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        metadata.push(call.metadata);
        try {
          spans.push(...decodeOtlpProtobuf(call.request));
          reports++;
          // An empty ExportTraceServiceResponse: everything accepted.
          cb(null, Buffer.alloc(0));
        } catch (e) {
          rejected.push((e as Error).message);
          cb({ code: grpc.status.INVALID_ARGUMENT, details: (e as Error).message });
        }
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${at.host ?? "127.0.0.1"}:${at.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    spans,
    rejected,
    metadata,
    contentTypes: [],
    get reports() {
      return reports;
    },
    close: () => new Promise<void>((r) => server.tryShutdown(() => r())),
  };
}
