// Envoy bootstrap files (YAML or JSON, proto3 JSON mapping: snake_case or camelCase names,
// durations as "1.5s", wrapper types as bare values, Any as {"@type", ...}) read into the decoded
// typed-object form the rest of the proxy uses (envoy/proto-json-read.ts converts; an unknown
// field is an error naming its path, as Envoy reports it).
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { parse as parseYaml } from "yaml";
import { fromProtoJson, ProtoJsonError } from "../envoy/proto-json-read.js";
import { decodeMessage, encodeMessage, type ProtoObject } from "../envoy/protos.js";
import type * as v3 from "../envoy/types.js";
import { expandTypedStructs, isJsonTypedStruct } from "./typed-struct.js";

export const BOOTSTRAP_TYPE = "envoy.config.bootstrap.v3.Bootstrap";

export class BootstrapError extends Error {}

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
  let converted: ProtoObject;
  try {
    // Istio's own filters' TypedStructs (no descriptor) stay TypedStructs, expanded below as over xDS.
    converted = fromProtoJson(BOOTSTRAP_TYPE, doc ?? {}, file, isJsonTypedStruct);
  } catch (e) {
    if (e instanceof ProtoJsonError) throw new BootstrapError(e.message);
    throw e;
  }
  // A protobuf round trip normalizes the form (defaults dropped, enums as names) and proves it encodes.
  try {
    const b = decodeMessage(BOOTSTRAP_TYPE, encodeMessage(BOOTSTRAP_TYPE, converted));
    expandTypedStructs(b, file);
    return b as v3.Bootstrap;
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
