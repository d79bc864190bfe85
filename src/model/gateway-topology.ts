// A gateway's ProxyConfig gatewayTopology (Istio's `proxy.istio.io/config` annotation on the gateway
// workload, which the agent sends as the node's PROXY_CONFIG metadata): numTrustedProxies becomes
// the HCM's xff_num_trusted_hops, so remote.ip / remoteIpBlocks see the client address from
// X-Forwarded-For. tsmesh reads the node metadata first, else the annotation on the proxy's
// WorkloadEntry (how `tsmesh up` describes a gateway workload), else the mesh config's defaultConfig.
import { parse } from "yaml";
import type { PushContext } from "./push-context.js";
import type { Proxy } from "./proxy.js";

export const PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config";

function numTrustedProxiesOf(proxyConfig: unknown): number | undefined {
  if (!proxyConfig || typeof proxyConfig !== "object") return undefined;
  const topo = (proxyConfig as Record<string, unknown>).gatewayTopology;
  if (!topo || typeof topo !== "object") return undefined;
  const n = (topo as Record<string, unknown>).numTrustedProxies;
  return typeof n === "number" && Number.isInteger(n) && n >= 0 ? n : undefined;
}

/** The annotation's ProxyConfig, or undefined when absent or not a YAML/JSON mapping. */
export function proxyConfigAnnotation(annotations: Readonly<Record<string, string>> | undefined): unknown {
  const text = annotations?.[PROXY_CONFIG_ANNOTATION];
  if (text === undefined) return undefined;
  try {
    return parse(text);
  } catch {
    return undefined;
  }
}

/**
 * gatewayTopology.numTrustedProxies for a gateway proxy: its own ProxyConfig (node metadata, then
 * its WorkloadEntry's annotation) over the mesh's defaultConfig, as Istio merges them; 0 when
 * nothing says.
 */
export function gatewayNumTrustedProxies(proxy: Proxy, push: PushContext): number {
  const fromNode = numTrustedProxiesOf(proxy.metadata.PROXY_CONFIG);
  if (fromNode !== undefined) return fromNode;
  for (const ip of proxy.ipAddresses) {
    const we = push.input.workloadEntries.find((w) => w.spec.address === ip && w.metadata.namespace === proxy.namespace);
    const n = we && numTrustedProxiesOf(proxyConfigAnnotation(we.metadata.annotations));
    if (n !== undefined) return n;
  }
  return push.mesh.defaultNumTrustedProxies ?? 0;
}
