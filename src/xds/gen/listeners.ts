// LDS for Envoy-form proxies (Istio's ConfigGeneratorImpl.BuildListeners): sidecars get outbound,
// virtualOutbound and inbound listeners (listener-sidecar.ts), routers get gateway listeners
// (listener-gateway.ts). Results are memoized per push under keys that name exactly the proxy
// attributes the output depends on, so proxies that look alike share the same listener objects
// (and so the same encoded bytes).
import { parseDuration } from "../../api/validation/common.js";
import type { Listener } from "../../envoy/types.js";
import { labelsKey, type PushContext } from "../../model/push-context.js";
import type { Proxy } from "../../model/proxy.js";
import { buildGatewayListeners } from "./listener-gateway.js";
import { buildSidecarInboundListeners } from "./listener-inbound.js";
import { buildSidecarOutboundListeners, type SidecarInputs } from "./listener-sidecar.js";
import { byName } from "./names.js";
import { outboundTelemetryKey } from "./telemetry/index.js";
import { usesSourcePredicates } from "./tcproute.js";
import { MESH_GATEWAY } from "../../api/hosts.js";

export { buildGatewayListeners, mergeGatewayServers, gatewayTlsContext, sanitizeServerHosts } from "./listener-gateway.js";
export { buildSidecarInboundListeners } from "./listener-inbound.js";
export { buildSidecarOutboundListeners, type SidecarInputs } from "./listener-sidecar.js";

/** Node metadata key for Istio's idle timeout (a Go duration such as "30s"). */
export const IDLE_TIMEOUT_METADATA = "IDLE_TIMEOUT";

/** The proxy's IDLE_TIMEOUT metadata: its text (for memo keys) and milliseconds (undefined when unset or invalid). */
export function idleTimeoutOf(proxy: Proxy): { key: string; ms: number | undefined } {
  const raw = proxy.metadata[IDLE_TIMEOUT_METADATA];
  if (typeof raw !== "string" || raw === "") return { key: "", ms: undefined };
  const ms = parseDuration(raw);
  return ms === undefined || ms < 0 ? { key: "", ms: undefined } : { key: raw, ms };
}

/**
 * Whether sidecar outbound listeners depend on the proxy's labels: only when some mesh
 * VirtualService matches TCP/TLS traffic by sourceLabels or sourceNamespace.
 */
function sourcePredicatesUsed(push: PushContext): boolean {
  return push.memo("lds/source-predicates", () => usesSourcePredicates(push.input.virtualServices.filter((vs) => !vs.spec.gateways?.length || vs.spec.gateways.includes(MESH_GATEWAY))));
}

/** The listeners for a proxy, sorted by name. */
export function buildListeners(proxy: Proxy, push: PushContext): Listener[] {
  const idle = idleTimeoutOf(proxy);
  const ips = proxy.ipAddresses.join(",");
  if (proxy.type === "router") {
    // Gateways: selection by labels, VirtualService/DestinationRule visibility by namespace,
    // Service port → target port translation by the workload's addresses.
    // PROXY_CONFIG (gatewayTopology) sets the HCMs' xff_num_trusted_hops.
    const key = `lds/router/${proxy.namespace}/${labelsKey(proxy.labels)}/${ips}/${idle.key}/${JSON.stringify(proxy.metadata.PROXY_CONFIG ?? null)}`;
    return push.memo(key, () => buildGatewayListeners(proxy, push, idle.ms).sort(byName));
  }
  const scope = push.sidecarScope(proxy);
  const inp: SidecarInputs = { proxy, push, scope, idleTimeoutMs: idle.ms };
  const labels = sourcePredicatesUsed(push) ? labelsKey(proxy.labels) : "*";
  // Outbound HCMs carry the workload's telemetry (access logs, tracing): shared only when it is the same.
  const telemetry = outboundTelemetryKey(push, proxy);
  const outKey = `lds/sidecar-out/${proxy.namespace}/${scope.key}/${labels}/${telemetry}/${proxy.interceptionMode}/${idle.key}`;
  // Inbound chains follow the workload's PeerAuthentication: its namespace and labels are in the key.
  const inKey = `lds/sidecar-in/${proxy.namespace}/${labelsKey(proxy.labels)}/${scope.key}/${ips}/${proxy.interceptionMode}/${idle.key}`;
  return push.memo(`lds/sidecar/${outKey}|${inKey}`, () => {
    const outbound = push.memo(outKey, () => buildSidecarOutboundListeners(inp));
    const inbound = push.memo(inKey, () => buildSidecarInboundListeners(inp));
    return [...outbound, ...inbound].sort(byName);
  });
}
