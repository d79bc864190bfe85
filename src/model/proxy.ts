// A connected proxy as Pilot sees it (Istio's model.Proxy): parsed from the node id
// `TYPE~IP~NAME.NAMESPACE~NAMESPACE.svc.cluster.local` and the node metadata.
import { parseLocality, type Locality } from "../registry/model.js";

export type ProxyType = "sidecar" | "router";
/** Which generator set serves it: Envoy (sidecar/gateway) or proxyless gRPC. */
export type GeneratorKind = "envoy" | "grpc";
/** Istio's INTERCEPTION_MODE; NONE = no traffic capture, listeners bind real ports (tsmesh local mode). */
export type InterceptionMode = "REDIRECT" | "TPROXY" | "NONE";

export interface ProxyNodeInput {
  id: string;
  metadata?: Record<string, unknown>;
  locality?: { region?: string; zone?: string; subZone?: string };
  userAgentName?: string;
  userAgentVersion?: string;
}

export interface Proxy {
  readonly id: string;
  readonly type: ProxyType;
  readonly ipAddresses: readonly string[];
  /** NAME.NAMESPACE part of the node id, e.g. `productpage-v1.default`. */
  readonly workloadId: string;
  readonly name: string;
  readonly namespace: string;
  /** DNS domain from the node id (`NAMESPACE.svc.cluster.local`). */
  readonly dnsDomain: string;
  labels: Readonly<Record<string, string>>;
  readonly locality: Locality;
  readonly generator: GeneratorKind;
  readonly interceptionMode: InterceptionMode;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly istioVersion: string;
  /** The node's user_agent_name / user_agent_version ("gRPC Node Pure JS" "1.14.1", "envoy" …); "" when unsent. */
  readonly userAgentName: string;
  readonly userAgentVersion: string;
}

export class ProxyIdError extends Error {}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v && typeof v === "object" && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  }
  return out;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** Parses the node id and metadata; throws ProxyIdError with a message a user can act on. */
export function parseProxy(node: ProxyNodeInput): Proxy {
  const parts = node.id.split("~");
  const md = node.metadata ?? {};
  const generator: GeneratorKind = str(md.GENERATOR) === "grpc" ? "grpc" : "envoy";
  if (parts.length !== 4) {
    throw new ProxyIdError(
      `node id ${JSON.stringify(node.id)} is not TYPE~IP~NAME.NAMESPACE~NAMESPACE.svc.cluster.local (e.g. sidecar~127.0.2.1~productpage-v1.default~default.svc.cluster.local)`,
    );
  }
  const [type, ips, workloadId, dnsDomain] = parts;
  if (type !== "sidecar" && type !== "router") {
    throw new ProxyIdError(`node id ${JSON.stringify(node.id)}: type ${JSON.stringify(type)} must be "sidecar" or "router"`);
  }
  const dot = workloadId.lastIndexOf(".");
  const name = dot > 0 ? workloadId.slice(0, dot) : workloadId;
  const namespace = str(md.NAMESPACE) ?? (dot > 0 ? workloadId.slice(dot + 1) : dnsDomain.split(".")[0] || "default");
  const loc = node.locality;
  const locality =
    loc && (loc.region || loc.zone || loc.subZone)
      ? { region: loc.region ?? "", zone: loc.zone ?? "", subZone: loc.subZone ?? "" }
      : parseLocality(str(stringMap(md.LABELS)["istio-locality"])?.replace(/\./g, "/"));
  const mode = str(md.INTERCEPTION_MODE);
  return {
    id: node.id,
    type,
    ipAddresses: (str(md.INSTANCE_IPS) ?? ips).split(",").filter(Boolean),
    workloadId,
    name,
    namespace,
    dnsDomain,
    labels: stringMap(md.LABELS),
    locality,
    generator,
    interceptionMode: mode === "NONE" || mode === "TPROXY" ? mode : "REDIRECT",
    metadata: md,
    istioVersion: str(md.ISTIO_VERSION) ?? "",
    userAgentName: node.userAgentName ?? "",
    userAgentVersion: node.userAgentVersion ?? "",
  };
}

/** The node id Istio's agent would build for a workload. */
export function proxyNodeId(type: ProxyType, ip: string, name: string, namespace: string): string {
  return `${type}~${ip}~${name}.${namespace}~${namespace}.svc.cluster.local`;
}
