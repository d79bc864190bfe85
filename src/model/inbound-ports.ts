// The inbound ports a local-mode sidecar owns beyond its services' (Istio's
// traffic.sidecar.istio.io/includeInboundPorts on the proxy's WorkloadEntry; see
// src/api/inbound-ports.ts): what the listener and cluster generators add as passthrough ports.
import { INCLUDE_INBOUND_PORTS_ANNOTATION, parseIncludeInboundPorts } from "../api/inbound-ports.js";
import type { Proxy } from "./proxy.js";
import type { PushContext } from "./push-context.js";

/**
 * Ports the proxy's WorkloadEntry includes that no service of the workload declares, sorted:
 * only for sidecars without capture (INTERCEPTION_MODE NONE) and without Sidecar ingress
 * listeners (which then define the inbound side, as in Istio).
 */
export function passthroughInboundPorts(proxy: Proxy, push: PushContext): number[] {
  if (proxy.type !== "sidecar" || proxy.interceptionMode !== "NONE") return [];
  if (push.sidecarScope(proxy).ingress.length > 0) return [];
  const we = push.input.workloadEntries.find((w) => proxy.ipAddresses.includes(w.spec.address ?? "") && w.metadata.namespace === proxy.namespace);
  const value = we?.metadata.annotations?.[INCLUDE_INBOUND_PORTS_ANNOTATION];
  if (value === undefined) return [];
  const parsed = parseIncludeInboundPorts(value);
  // An invalid annotation is refused by validation with its field; nothing is bound for it.
  if ("error" in parsed) return [];
  const services = new Set(push.serviceInstances(proxy).map((i) => i.endpointPort));
  return parsed.ports.filter((p) => !services.has(p)).sort((a, b) => a - b);
}
