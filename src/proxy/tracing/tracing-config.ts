// An http_connection_manager's `tracing` block compiled: the provider (Envoy's tracer by its type
// URL — envoy.tracers.zipkin's ZipkinConfig, envoy.tracers.opentelemetry's OpenTelemetryConfig), the
// sampling percentages, custom tags and the path tag's length. What tsmesh cannot do is refused with
// its field path (verbose span events, other tracers, custom samplers).
import type * as v3 from "../../envoy/types.js";
import { anyType, typeName } from "../extensions.js";
import { XdsConfigError } from "../xds-error.js";
import type { FinishedSpan } from "./span.js";
import type { Propagation } from "./propagation.js";
import type { SamplingConfig } from "./sampling.js";

export const ZIPKIN_TYPE = "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig";
export const OTEL_TYPE = "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig";

/** The proxy's identity as spans carry it (Envoy's local_info). */
export interface TraceNode {
  readonly id: string;
  /** node.cluster: Zipkin's local service name. */
  readonly cluster: string;
  readonly zone: string;
  /** istio.canonical_service, istio.mesh_id, istio.namespace… from the node's metadata. */
  readonly istioTags: ReadonlyMap<string, string>;
}

/** A tracer (Envoy's Driver): shared by every connection manager with the same provider config. */
export interface TraceDriver {
  readonly propagation: Propagation;
  readonly traceId128: boolean;
  readonly sharedSpanContext: boolean;
  readonly node: TraceNode;
  report(span: FinishedSpan): void;
  /** A request came with a context that does not parse (counted; the request is not traced). */
  malformed(why: string): void;
}

/** Where compiled tracing configs find their drivers (the proxy's tracer registry). */
export interface TraceDrivers {
  zipkin(c: v3.envoy.config.trace.v3.ZipkinConfig, path: string): TraceDriver;
  openTelemetry(c: v3.envoy.config.trace.v3.OpenTelemetryConfig, path: string): TraceDriver;
}

export type CustomTag =
  | { readonly kind: "literal"; readonly tag: string; readonly value: string }
  | { readonly kind: "environment"; readonly tag: string; readonly value: string | undefined }
  | { readonly kind: "header"; readonly tag: string; readonly name: string; readonly defaultValue: string | undefined }
  | { readonly kind: "metadata"; readonly tag: string; readonly namespace: string; readonly path: readonly string[]; readonly defaultValue: string | undefined };

/** HttpConnectionManager.tracing, compiled. */
export interface HttpTracing {
  readonly driver: TraceDriver;
  readonly sampling: SamplingConfig;
  readonly customTags: readonly CustomTag[];
  /** max_path_tag_length (Envoy's default 256). */
  readonly maxPathTagLength: number;
  /** The listener's direction: OUTBOUND is Envoy's egress (CLIENT spans), else ingress (SERVER). */
  readonly egress: boolean;
  /** spawn_upstream_span: the router makes a CLIENT child span for its upstream request (Istio sets it on gateways). */
  readonly spawnUpstreamSpan: boolean;
}

type HcmTracing = NonNullable<v3.HttpConnectionManager["tracing"]>;

function percent(p: { value?: number } | undefined, path: string): number {
  if (p === undefined) return 100;
  const v = p.value ?? 0;
  if (!Number.isFinite(v) || v < 0 || v > 100) throw new XdsConfigError(path, "expected a percentage from 0 to 100");
  return v;
}

function customTags(list: readonly v3.envoy.type.tracing.v3.CustomTag[], path: string, env: NodeJS.ProcessEnv): CustomTag[] {
  const seen = new Set<string>();
  return list.map((c, i) => {
    const at = `${path}[${i}]`;
    const tag = c.tag ?? "";
    if (!tag) throw new XdsConfigError(`${at}.tag`, "a custom tag needs a name");
    if (seen.has(tag)) throw new XdsConfigError(`${at}.tag`, `duplicate custom tag ${tag}`);
    seen.add(tag);
    if (c.literal) return { kind: "literal", tag, value: c.literal.value ?? "" };
    // Envoy reads the environment once, when the config loads.
    if (c.environment) {
      const name = c.environment.name ?? "";
      if (!name) throw new XdsConfigError(`${at}.environment.name`, "an environment tag needs a variable name");
      return { kind: "environment", tag, value: env[name] ?? (c.environment.defaultValue || undefined) };
    }
    if (c.requestHeader) {
      const name = (c.requestHeader.name ?? "").toLowerCase();
      if (!name) throw new XdsConfigError(`${at}.requestHeader.name`, "a request header tag needs a header name");
      return { kind: "header", tag, name, defaultValue: c.requestHeader.defaultValue || undefined };
    }
    if (c.metadata) {
      const kind = c.metadata.kind ?? {};
      if (!("request" in kind)) throw new XdsConfigError(`${at}.metadata.kind`, "tsmesh reads custom tags from request (dynamic) metadata only");
      const key = c.metadata.metadataKey;
      if (!key?.key) throw new XdsConfigError(`${at}.metadata.metadataKey.key`, "a metadata tag needs a filter namespace");
      const segs = (key.path ?? []).map((s, j) => {
        if (!s.key) throw new XdsConfigError(`${at}.metadata.metadataKey.path[${j}].key`, "expected a key");
        return s.key;
      });
      return { kind: "metadata", tag, namespace: key.key, path: segs, defaultValue: c.metadata.defaultValue || undefined };
    }
    throw new XdsConfigError(at, "a custom tag needs literal, environment, request_header or metadata");
  });
}

/** Compiles `tracing` (undefined: the HCM traces nothing). `egress`: the listener is OUTBOUND. */
export function compileTracing(t: HcmTracing | undefined, path: string, egress: boolean, drivers: TraceDrivers | undefined, env: NodeJS.ProcessEnv = process.env): HttpTracing | undefined {
  if (t === undefined) return undefined;
  if (t.verbose === true) throw new XdsConfigError(`${path}.verbose`, "verbose tracing (span events per stream phase) is not implemented by tsmesh");
  // Envoy without a provider traces nothing (no tracer is configured): the block is inert.
  if (t.provider === undefined) return undefined;
  const p = t.provider;
  const any = p.typedConfig;
  const type = anyType(any);
  const at = `${path}.provider.typedConfig`;
  if (drivers === undefined) throw new XdsConfigError(`${path}.provider`, "this proxy has no tracer registry");
  let driver: TraceDriver;
  if (type === ZIPKIN_TYPE && (any as { "@type"?: string })["@type"] !== undefined) driver = drivers.zipkin(any as unknown as v3.envoy.config.trace.v3.ZipkinConfig, at);
  else if (type === OTEL_TYPE && (any as { "@type"?: string })["@type"] !== undefined) driver = drivers.openTelemetry(any as unknown as v3.envoy.config.trace.v3.OpenTelemetryConfig, at);
  else throw new XdsConfigError(at, `tracer '${p.name ?? ""}' of type ${typeName(type) || "(none)"} is not implemented by tsmesh (envoy.tracers.zipkin and envoy.tracers.opentelemetry are)`);
  const max = t.maxPathTagLength?.value ?? 256;
  if (!Number.isInteger(max) || max < 1) throw new XdsConfigError(`${path}.maxPathTagLength`, "expected at least 1");
  return {
    driver,
    sampling: {
      client: percent(t.clientSampling, `${path}.clientSampling`),
      random: percent(t.randomSampling, `${path}.randomSampling`),
      overall: percent(t.overallSampling, `${path}.overallSampling`),
    },
    customTags: customTags(t.customTags ?? [], `${path}.customTags`, env),
    maxPathTagLength: max,
    egress,
    spawnUpstreamSpan: t.spawnUpstreamSpan?.value === true,
  };
}
