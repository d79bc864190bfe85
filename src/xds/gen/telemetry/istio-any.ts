// Anys of Istio's own filter configs, which are not Envoy API types and so in no schema tsmesh
// encodes with: a TypedStruct (udpa.type.v1.TypedStruct: the inner type URL and a Struct), as
// Istio's protoconv.TypedStructWithFields writes them, and stats.PluginConfig (istio.io/api
// envoy/extensions/stats/config.proto) encoded field by field. Both are raw Anys: type_url and the
// encoded value (base64, which both encoders accept, so golden files stay JSON).
import { encodeMessage, protobufjs, struct, TYPE_PREFIX, type JsonValue } from "../../../envoy/protos.js";
import type { Any } from "../../../envoy/types.js";

export const TYPED_STRUCT_URL = `${TYPE_PREFIX}udpa.type.v1.TypedStruct`;
export const STATS_PLUGIN_CONFIG_URL = `${TYPE_PREFIX}stats.PluginConfig`;

function rawAny(typeUrl: string, value: Uint8Array): Any {
  return { type_url: typeUrl, value: Buffer.from(value).toString("base64") } as unknown as Any;
}

/** A TypedStruct Any carrying `fields` as the config of `typeUrl`. */
export function typedStruct(typeUrl: string, fields: { [k: string]: JsonValue }): Any {
  const value = encodeMessage("google.protobuf.Struct", struct(fields));
  const w = protobufjs().Writer.create();
  w.uint32(10).string(typeUrl);
  w.uint32(18).bytes(value);
  return rawAny(TYPED_STRUCT_URL, w.finish());
}

/** stats.MetricConfig. */
export interface StatsMetricConfig {
  name: string;
  dimensions: Readonly<Record<string, string>>;
  tagsToRemove: readonly string[];
  drop: boolean;
}

/** stats.PluginConfig, the fields Istio's generateStatsConfig sets. */
export interface StatsPluginConfig {
  disableHostHeaderFallback: boolean;
  tcpReportingDurationMs?: number;
  metrics: readonly StatsMetricConfig[];
}

/** The stats.PluginConfig Any. Map entries are written sorted by key, so equal configs encode equally. */
export function statsPluginConfig(c: StatsPluginConfig): Any {
  const w = protobufjs().Writer.create();
  if (c.disableHostHeaderFallback) w.uint32((6 << 3) | 0).bool(true);
  if (c.tcpReportingDurationMs !== undefined) {
    const seconds = Math.floor(c.tcpReportingDurationMs / 1000);
    const nanos = Math.round((c.tcpReportingDurationMs % 1000) * 1e6);
    w.uint32((7 << 3) | 2).fork();
    if (seconds) w.uint32(8).int64(seconds);
    if (nanos) w.uint32(16).int32(nanos);
    w.ldelim();
  }
  for (const m of c.metrics) {
    w.uint32((8 << 3) | 2).fork();
    for (const k of Object.keys(m.dimensions).sort()) {
      w.uint32((1 << 3) | 2).fork().uint32(10).string(k).uint32(18).string(m.dimensions[k]).ldelim();
    }
    if (m.name) w.uint32((2 << 3) | 2).string(m.name);
    for (const t of m.tagsToRemove) w.uint32((3 << 3) | 2).string(t);
    if (m.drop) w.uint32((5 << 3) | 0).bool(true);
    w.ldelim();
  }
  return rawAny(STATS_PLUGIN_CONFIG_URL, w.finish());
}

/**
 * An Any of an Envoy type only the rest of Envoy's v3 API has (a tracer's or extension filter's
 * config): the encoders load that tier when they meet its type URL. Fields in typed-object form.
 */
export function envoyExtensionAny(typeName: string, fields: Record<string, unknown>): Any {
  return { "@type": `${TYPE_PREFIX}${typeName}`, ...fields } as unknown as Any;
}
