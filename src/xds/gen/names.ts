// Istio's names for generated resources (pilot/pkg/model and networking/util), which users grep
// for in config dumps, stats and access logs.

export const BLACKHOLE_CLUSTER = "BlackHoleCluster";
export const PASSTHROUGH_CLUSTER = "PassthroughCluster";
export const INBOUND_PASSTHROUGH_CLUSTER = "InboundPassthroughCluster";
export const VIRTUAL_OUTBOUND_LISTENER = "virtualOutbound";
export const VIRTUAL_INBOUND_LISTENER = "virtualInbound";
/** Istio's listener ports: 15001 outbound capture, 15006 inbound capture. */
export const VIRTUAL_OUTBOUND_PORT = 15001;
export const VIRTUAL_INBOUND_PORT = 15006;
/** Route for a sidecar's HTTP traffic to unknown hosts (Istio's "allow_any" virtual host). */
export const ALLOW_ANY_VHOST = "allow_any";
export const BLOCK_ALL_VHOST = "block_all";

export type TrafficDirection = "outbound" | "inbound";

/** `outbound|PORT|SUBSET|HOST` / `inbound|PORT|SUBSET|HOST` (Istio's BuildSubsetKey). */
export function clusterName(direction: TrafficDirection, port: number, subset: string, host: string): string {
  return `${direction}|${port}|${subset}|${host}`;
}

export function outboundClusterName(port: number, host: string, subset = ""): string {
  return clusterName("outbound", port, subset, host);
}

/** Istio's inbound cluster for a service port: `inbound|PORT||`. */
export function inboundClusterName(port: number): string {
  return `inbound|${port}||`;
}

export interface ParsedClusterName {
  direction: TrafficDirection;
  port: number;
  subset: string;
  host: string;
}

/** Parses `outbound|9080|v1|reviews.default.svc.cluster.local`; undefined for other names. */
export function parseClusterName(name: string): ParsedClusterName | undefined {
  const parts = name.split("|");
  if (parts.length !== 4 || (parts[0] !== "outbound" && parts[0] !== "inbound")) return undefined;
  const port = Number(parts[1]);
  if (!Number.isInteger(port)) return undefined;
  return { direction: parts[0], port, subset: parts[2], host: parts[3] };
}

/** `0.0.0.0_9080`, `127.0.2.1_9080`: Istio's listener names are ADDRESS_PORT. */
export function listenerName(address: string, port: number): string {
  return `${address}_${port}`;
}

/** A sidecar's outbound HTTP route configuration is named by port ("9080"). */
export function outboundRouteName(port: number): string {
  return String(port);
}

/** A gateway's plaintext HTTP route configuration: `http.PORT`. */
export function gatewayHttpRouteName(port: number): string {
  return `http.${port}`;
}

/** A gateway's HTTPS (TLS-terminated) route: `https.PORT.PORTNAME.GATEWAY.NAMESPACE`. */
export function gatewayHttpsRouteName(port: number, portName: string, gateway: string, namespace: string): string {
  return `https.${port}.${portName}.${gateway}.${namespace}`;
}

/** Orders resources by name (Istio sorts clusters and listeners so output is stable). */
export function byName(a: { name?: string }, b: { name?: string }): number {
  const x = a.name ?? "";
  const y = b.name ?? "";
  return x < y ? -1 : x > y ? 1 : 0;
}
