// Envoy bootstrap files (YAML or JSON, proto3 JSON mapping: snake_case or camelCase names,
// durations as "1.5s", wrapper types as bare values, Any as {"@type", ...}) read into the decoded
// typed-object form the rest of the proxy uses. Conversion is driven by the proto descriptors, so
// an unknown field is an error naming its path, as Envoy reports it.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import protobuf from "protobufjs";
import { parse as parseYaml } from "yaml";
import { decodeMessage, encodeMessage, messageType, type ProtoObject } from "../envoy/protos.js";
import type * as v3 from "../envoy/types.js";

export const BOOTSTRAP_TYPE = "envoy.config.bootstrap.v3.Bootstrap";

export class BootstrapError extends Error {}

const WRAPPERS = new Set(["DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value", "UInt32Value", "BoolValue", "StringValue", "BytesValue"]);

const camel = (s: string) => s.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
const jsonCamel = (s: string) => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

/** The protobufjs field name of `k` written as the proto name or its proto3 JSON name. */
function fieldByJsonName(t: protobuf.Type, k: string): string | undefined {
  const want = jsonCamel(k);
  for (const name of Object.keys(t.fields)) if (jsonCamel(name) === want) return name;
  return undefined;
}

function durationFromJson(v: unknown, path: string): ProtoObject {
  if (typeof v === "object" && v !== null) return v as ProtoObject;
  const m = /^(-?\d+(?:\.\d+)?)s$/.exec(String(v));
  if (!m) throw new BootstrapError(`${path}: invalid duration ${JSON.stringify(v)} (use e.g. "0.25s")`);
  const secs = Number(m[1]);
  const seconds = Math.trunc(secs);
  const nanos = Math.round((secs - seconds) * 1e9);
  const out: ProtoObject = {};
  if (seconds) out.seconds = seconds;
  if (nanos) out.nanos = nanos;
  return out;
}

function convertValue(field: protobuf.Field, v: unknown, path: string): unknown {
  const rt = field.resolvedType;
  if (!(rt instanceof protobuf.Type)) return v; // scalars and enums (names) pass through
  return convertMessage(rt, v, path);
}

/** proto3 JSON for message type `t` → protobufjs typed-object form. */
function convertMessage(t: protobuf.Type, v: unknown, path: string): unknown {
  const full = t.fullName.replace(/^\./, "");
  if (full === "google.protobuf.Duration") return durationFromJson(v, path);
  if (full === "google.protobuf.Struct" || full === "google.protobuf.Value" || full === "google.protobuf.ListValue") return structFromJson(full, v);
  if (full.startsWith("google.protobuf.") && WRAPPERS.has(t.name)) return typeof v === "object" && v !== null ? v : { value: v };
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new BootstrapError(`${path}: expected an object for ${full}`);
  const src = v as Record<string, unknown>;
  if (full === "google.protobuf.Any") {
    const url = src["@type"];
    if (typeof url !== "string") throw new BootstrapError(`${path}: an Any needs "@type"`);
    let inner: protobuf.Type;
    try {
      inner = messageType(url);
    } catch {
      throw new BootstrapError(`${path}: unknown type ${url}`);
    }
    const rest: Record<string, unknown> = { ...src };
    delete rest["@type"];
    return { "@type": url, ...(convertMessage(inner, rest, path) as ProtoObject) };
  }
  const out: ProtoObject = {};
  for (const [k, raw] of Object.entries(src)) {
    // protobufjs names fields lowerCamel for letters only (consecutive_5xx stays as is), proto3
    // JSON also folds digits (consecutive5xx): accept the snake name and both camel forms.
    let name = camel(k);
    if (!t.fields[name]) name = fieldByJsonName(t, k) ?? name;
    const field = t.fields[name];
    const p = `${path}.${k}`;
    if (!field) throw new BootstrapError(`${p}: unknown field of ${full}`);
    field.resolve();
    if (field instanceof protobuf.MapField) {
      const m: Record<string, unknown> = {};
      for (const [mk, mv] of Object.entries((raw ?? {}) as Record<string, unknown>)) m[mk] = convertValue(field, mv, `${p}.${mk}`);
      out[name] = m;
    } else if (field.repeated) {
      if (!Array.isArray(raw)) throw new BootstrapError(`${p}: expected a list`);
      out[name] = raw.map((x, i) => convertValue(field, x, `${p}[${i}]`));
    } else out[name] = convertValue(field, raw, p);
  }
  return out;
}

function structFromJson(full: string, v: unknown): unknown {
  const value = (x: unknown): ProtoObject => {
    if (x === null) return { nullValue: "NULL_VALUE" };
    if (typeof x === "number") return { numberValue: x };
    if (typeof x === "string") return { stringValue: x };
    if (typeof x === "boolean") return { boolValue: x };
    if (Array.isArray(x)) return { listValue: { values: x.map(value) } };
    return { structValue: { fields: Object.fromEntries(Object.entries(x as object).map(([k, y]) => [k, value(y)])) } };
  };
  if (full === "google.protobuf.Value") return value(v);
  if (full === "google.protobuf.ListValue") return { values: (v as unknown[]).map(value) };
  return { fields: Object.fromEntries(Object.entries((v ?? {}) as object).map(([k, y]) => [k, value(y)])) };
}

/**
 * A message of `typeUrl` from its proto3 JSON (what a TypedStruct carries), encoded: the caller
 * decodes it with the proxy's own codec. Errors name `path`.
 */
export function encodeFromJson(typeUrl: string, json: unknown, path: string): Uint8Array {
  let t: protobuf.Type;
  try {
    t = messageType(typeUrl);
  } catch {
    throw new BootstrapError(`${path}: unknown type ${typeUrl}`);
  }
  try {
    return encodeMessage(typeUrl, convertMessage(t, json ?? {}, path) as ProtoObject);
  } catch (e) {
    throw e instanceof BootstrapError ? e : new BootstrapError(`${path}: ${(e as Error).message}`);
  }
}

/**
 * Parses bootstrap text (YAML or JSON) into a decoded Bootstrap; errors name file and field path.
 * The protobuf round trip at the end gives the decoded form, so the result is typed here, once.
 */
export function parseBootstrap(text: string, file = "bootstrap"): v3.Bootstrap {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new BootstrapError(`${file}: ${(e as Error).message}`);
  }
  const converted = convertMessage(messageType(BOOTSTRAP_TYPE), doc ?? {}, file) as ProtoObject;
  // A protobuf round trip normalizes the form (defaults dropped, enums as names) and proves it encodes.
  try {
    return decodeMessage(BOOTSTRAP_TYPE, encodeMessage(BOOTSTRAP_TYPE, converted)) as v3.Bootstrap;
  } catch (e) {
    throw new BootstrapError(`${file}: ${(e as Error).message}`);
  }
}

export function loadBootstrap(path: string): v3.Bootstrap {
  return parseBootstrap(readFileSync(path, "utf8"), path);
}

/** What the proxy takes from a bootstrap besides its static resources. */
export interface BootstrapSettings {
  staticResources: { listeners: v3.Listener[]; clusters: v3.Cluster[] };
  /** dynamic_resources.ads_config: where the ADS stream goes and which variant it speaks. */
  ads?: { address: string; protocol: "delta" | "sotw" };
  /** The bootstrap's node (id, cluster, metadata, locality), as Envoy would announce it. */
  node?: v3.Node;
  /** admin.address: where Envoy's admin listens (0.0.0.0 is every interface, as in Envoy). */
  admin?: { address: string; port: number };
}

/** The first endpoint of a static cluster, as host:port (the cluster an ADS config source names). */
function clusterAddress(clusters: readonly v3.Cluster[], name: string, path: string): string {
  const c = clusters.find((x) => x.name === name);
  if (!c) throw new BootstrapError(`${path}: no static cluster named ${JSON.stringify(name)} (Envoy: the ADS cluster must be in static_resources)`);
  for (const locality of c.loadAssignment?.endpoints ?? []) {
    for (const lb of locality.lbEndpoints ?? []) {
      const sa = lb.endpoint?.address?.socketAddress;
      if (sa?.address !== undefined && sa.portValue !== undefined) return `${sa.address}:${sa.portValue}`;
    }
  }
  throw new BootstrapError(`${path}: static cluster ${JSON.stringify(name)} has no endpoint with a socket address`);
}

/** ads_config.api_type → the ADS variant (undefined: not an ADS type). */
const ADS_PROTOCOLS: Readonly<Partial<Record<string, "delta" | "sotw">>> = { GRPC: "sotw", AGGREGATED_GRPC: "sotw", DELTA_GRPC: "delta", AGGREGATED_DELTA_GRPC: "delta" };

/**
 * Reads dynamic_resources (ADS only: ads_config with an envoy_grpc cluster or a google_grpc target,
 * and lds/cds config sources that say `ads: {}`), node and admin from a loaded bootstrap.
 */
export function bootstrapSettings(b: v3.Bootstrap, file: string): BootstrapSettings {
  const clusters = b.staticResources?.clusters ?? [];
  const out: BootstrapSettings = { staticResources: { listeners: b.staticResources?.listeners ?? [], clusters } };
  const dyn = b.dynamicResources;
  if (dyn) {
    const path = `${file}.dynamic_resources`;
    for (const [src, snake] of [
      [dyn.ldsConfig, "lds_config"],
      [dyn.cdsConfig, "cds_config"],
    ] as const) {
      if (src && !src.ads) throw new BootstrapError(`${path}.${snake}: only ADS config sources are supported (${snake}: {ads: {}})`);
    }
    const ads = dyn.adsConfig;
    if (ads) {
      // The enum's zero value (left out when decoded) is the deprecated legacy one.
      const apiType = String(ads.apiType ?? "LEGACY");
      const protocol = Object.hasOwn(ADS_PROTOCOLS, apiType) ? ADS_PROTOCOLS[apiType] : undefined;
      if (!protocol) throw new BootstrapError(`${path}.ads_config.api_type: ${apiType} is not supported for ADS (GRPC or DELTA_GRPC)`);
      const svc = ads.grpcServices?.[0];
      if (!svc) throw new BootstrapError(`${path}.ads_config.grpc_services: needs one gRPC service`);
      let address: string;
      if (svc.envoyGrpc?.clusterName) address = clusterAddress(clusters, svc.envoyGrpc.clusterName, `${path}.ads_config.grpc_services[0].envoy_grpc.cluster_name`);
      else if (svc.googleGrpc?.targetUri) address = svc.googleGrpc.targetUri.replace(/^dns:(\/\/\/)?/, "");
      else throw new BootstrapError(`${path}.ads_config.grpc_services[0]: needs envoy_grpc.cluster_name or google_grpc.target_uri`);
      out.ads = { address, protocol };
    } else if (dyn.ldsConfig || dyn.cdsConfig) {
      throw new BootstrapError(`${path}.ads_config: lds_config/cds_config say ads but there is no ads_config`);
    }
  }
  if (b.node) out.node = b.node;
  const admin = adminAddress(b.admin, `${file}.admin`);
  if (admin) out.admin = admin;
  return out;
}

/** admin.address as a TCP socket address (IP and port); other forms are refused with their path. */
function adminAddress(admin: v3.Bootstrap["admin"], path: string): { address: string; port: number } | undefined {
  const address = admin?.address;
  if (!address) return undefined;
  const sa = address.socketAddress;
  if (!sa) throw new BootstrapError(`${path}.address: only socket_address is supported (${Object.keys(address).join(", ") || "empty"})`);
  const p = `${path}.address.socket_address`;
  if (sa.protocol !== undefined && sa.protocol !== "TCP") throw new BootstrapError(`${p}.protocol: the admin listens on TCP, not ${String(sa.protocol)}`);
  if (sa.namedPort !== undefined) throw new BootstrapError(`${p}.named_port: not supported (use port_value)`);
  if (sa.resolverName !== undefined) throw new BootstrapError(`${p}.resolver_name: not supported (use an IP address)`);
  const ip = sa.address ?? "";
  if (isIP(ip) === 0) throw new BootstrapError(`${p}.address: ${JSON.stringify(ip)} is not an IP address`);
  return { address: ip, port: sa.portValue ?? 0 };
}
