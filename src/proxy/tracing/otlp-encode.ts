// OTLP trace export bodies: `opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest` in
// protobuf (the form OTLP/HTTP collectors take by default at /v1/traces) and in OTLP's JSON mapping
// (ids as hex, 64-bit times as decimal strings, enums as numbers). The schema is small and fixed
// (opentelemetry-proto's trace.proto, common.proto, resource.proto), so it is written here by field
// number rather than loading a protobuf runtime into every sidecar.
import type { FinishedSpan } from "./span.js";

/** The exporting process, as OTLP's Resource and InstrumentationScope say it. */
export interface OtlpResource {
  readonly serviceName: string;
  readonly attributes: ReadonlyMap<string, string>;
}

const SCOPE_NAME = "envoy";
/** OTLP's Span.SpanKind values. */
const KIND = { SERVER: 2, CLIENT: 3 } as const;
/** Status.StatusCode.STATUS_CODE_ERROR. */
const STATUS_ERROR = 2;

/** Appends protobuf fields; nested messages are encoded first and written length-prefixed. */
class ProtoWriter {
  private readonly parts: Buffer[] = [];
  private size = 0;

  private push(b: Buffer): void {
    this.parts.push(b);
    this.size += b.length;
  }

  private varint(n: number): void {
    const bytes: number[] = [];
    let v = n;
    while (v > 127) {
      bytes.push((v % 128) | 128);
      v = Math.floor(v / 128);
    }
    bytes.push(v);
    this.push(Buffer.from(bytes));
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  bytes(field: number, b: Buffer): this {
    this.tag(field, 2);
    this.varint(b.length);
    this.push(b);
    return this;
  }

  string(field: number, s: string): this {
    return s === "" ? this : this.bytes(field, Buffer.from(s, "utf8"));
  }

  message(field: number, w: ProtoWriter): this {
    return this.bytes(field, w.finish());
  }

  uint(field: number, n: number): this {
    if (n === 0) return this;
    this.tag(field, 0);
    this.varint(n);
    return this;
  }

  /** fixed64 from a non-negative bigint (nanoseconds). */
  fixed64(field: number, n: bigint): this {
    this.tag(field, 1);
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64LE(n);
    this.push(b);
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}

function keyValue(key: string, value: string): ProtoWriter {
  // KeyValue{key=1, value=2: AnyValue{string_value=1}}
  return new ProtoWriter().string(1, key).message(2, new ProtoWriter().bytes(1, Buffer.from(value, "utf8")));
}

function resourceWriter(r: OtlpResource): ProtoWriter {
  const w = new ProtoWriter().message(1, keyValue("service.name", r.serviceName));
  for (const [k, v] of r.attributes) w.message(1, keyValue(k, v));
  return w;
}

function spanWriter(s: FinishedSpan): ProtoWriter {
  const start = BigInt(Math.round(s.startUs)) * 1000n;
  const w = new ProtoWriter().bytes(1, Buffer.from(s.traceId.padStart(32, "0"), "hex")).bytes(2, Buffer.from(s.spanId, "hex"));
  if (s.parentId !== undefined) w.bytes(4, Buffer.from(s.parentId, "hex"));
  w.string(5, s.name).uint(6, KIND[s.kind]).fixed64(7, start).fixed64(8, start + BigInt(Math.round(s.durationUs)) * 1000n);
  for (const [k, v] of s.tags) w.message(9, keyValue(k, v));
  if (s.tags.get("error") === "true") w.message(15, new ProtoWriter().uint(3, STATUS_ERROR));
  return w;
}

/** ExportTraceServiceRequest{resource_spans=1: ResourceSpans{resource=1, scope_spans=2: ScopeSpans{scope=1, spans=2}}}. */
export function otlpProtobuf(resource: OtlpResource, spans: readonly FinishedSpan[]): Buffer {
  const scope = new ProtoWriter().message(1, new ProtoWriter().string(1, SCOPE_NAME));
  for (const s of spans) scope.message(2, spanWriter(s));
  const rs = new ProtoWriter().message(1, resourceWriter(resource)).message(2, scope);
  return new ProtoWriter().message(1, rs).finish();
}

function jsonKv(key: string, value: string): { key: string; value: { stringValue: string } } {
  return { key, value: { stringValue: value } };
}

/** The same request in OTLP/JSON. */
export function otlpJson(resource: OtlpResource, spans: readonly FinishedSpan[]): Buffer {
  const attributes = [jsonKv("service.name", resource.serviceName), ...[...resource.attributes].map(([k, v]) => jsonKv(k, v))];
  const body = {
    resourceSpans: [
      {
        resource: { attributes },
        scopeSpans: [
          {
            scope: { name: SCOPE_NAME },
            spans: spans.map((s) => {
              const start = BigInt(Math.round(s.startUs)) * 1000n;
              return {
                traceId: s.traceId.padStart(32, "0"),
                spanId: s.spanId,
                ...(s.parentId !== undefined ? { parentSpanId: s.parentId } : {}),
                name: s.name,
                kind: KIND[s.kind],
                startTimeUnixNano: String(start),
                endTimeUnixNano: String(start + BigInt(Math.round(s.durationUs)) * 1000n),
                attributes: [...s.tags].map(([k, v]) => jsonKv(k, v)),
                ...(s.tags.get("error") === "true" ? { status: { code: STATUS_ERROR } } : {}),
              };
            }),
          },
        ],
      },
    ],
  };
  return Buffer.from(JSON.stringify(body));
}
