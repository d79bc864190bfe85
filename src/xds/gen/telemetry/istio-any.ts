// Anys of Istio's own filter configs, which are not Envoy API types and so in no schema tsmesh
// encodes with: a TypedStruct (udpa.type.v1.TypedStruct: the inner type URL and a Struct), as
// Istio's protoconv.TypedStructWithFields writes them (a raw Any: type_url and the encoded value in
// base64, which both encoders accept, so golden files stay JSON); and stats.PluginConfig (istio.io/api
// envoy/extensions/stats/config.proto), whose descriptor is in the proxy's schema.
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

/** The stats.PluginConfig Any, in typed-object form (the message is in the proxy's schema); defaults left out. */
export function statsPluginConfig(c: StatsPluginConfig): Any {
  const out: Record<string, unknown> = { "@type": STATS_PLUGIN_CONFIG_URL };
  if (c.disableHostHeaderFallback) out.disableHostHeaderFallback = true;
  if (c.tcpReportingDurationMs !== undefined) {
    const seconds = Math.floor(c.tcpReportingDurationMs / 1000);
    const nanos = Math.round((c.tcpReportingDurationMs % 1000) * 1e6);
    out.tcpReportingDuration = { ...(seconds ? { seconds } : {}), ...(nanos ? { nanos } : {}) };
  }
  if (c.metrics.length > 0) {
    out.metrics = c.metrics.map((m) => ({
      ...(Object.keys(m.dimensions).length ? { dimensions: Object.fromEntries(Object.keys(m.dimensions).sort().map((k) => [k, m.dimensions[k]])) } : {}),
      ...(m.name ? { name: m.name } : {}),
      ...(m.tagsToRemove.length ? { tagsToRemove: [...m.tagsToRemove] } : {}),
      ...(m.drop ? { drop: true } : {}),
    }));
  }
  return out as unknown as Any;
}

/**
 * An Any of an Envoy type only the rest of Envoy's v3 API has (a tracer's or extension filter's
 * config): the encoders load that tier when they meet its type URL. Fields in typed-object form.
 */
export function envoyExtensionAny(typeName: string, fields: Record<string, unknown>): Any {
  return { "@type": `${TYPE_PREFIX}${typeName}`, ...fields } as unknown as Any;
}
