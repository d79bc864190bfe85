// The telemetry pieces of one proxy's listeners, per listener class, as Istio adds them: the HTTP
// connection manager's access_log, tracing and filters (istio.metadata_exchange first, istio.stats
// before the router), and a TCP chain's access_log and istio.stats network filter. Computed once
// per proxy view and push (push.memo), each piece behind its TELEMETRY_FEATURES switch.
import type { AccessLog, HttpFilter, NetworkFilter } from "../../../envoy/types.js";
import type { Proxy } from "../../../model/proxy.js";
import type { PushContext } from "../../../model/push-context.js";
import { type ListenerClass, workloadMode } from "../../../model/telemetry.js";
import { meshAccessLog, providerAccessLog, withCelFilter } from "./access-log.js";
import { TELEMETRY_FEATURES } from "./features.js";
import { httpMetadataExchange, tcpListenerMetadataExchange } from "./metadata-exchange.js";
import { STATS_FILTER_NAME, statsConfig } from "./stats.js";
import { hcmTracing, type HcmTracing, serviceCluster } from "./tracing.js";
import { labelsKey } from "../../../model/push-context.js";

export { TELEMETRY_FEATURES } from "./features.js";
export { tcpClusterMetadataExchange } from "./metadata-exchange.js";

export interface HcmTelemetry {
  /** istio.metadata_exchange, first of the HTTP filters. */
  metadataExchange?: HttpFilter;
  /** istio.stats filters, after fault and cors, before the router. */
  stats: HttpFilter[];
  accessLog: AccessLog[];
  tracing?: HcmTracing;
}

export interface TcpTelemetry {
  /** istio.stats network filters, before tcp_proxy. */
  stats: NetworkFilter[];
  accessLog: AccessLog[];
}

export const NO_HCM_TELEMETRY: HcmTelemetry = { stats: [], accessLog: [] };
export const NO_TCP_TELEMETRY: TcpTelemetry = { stats: [], accessLog: [] };

/** The TCP metadata exchange network filter an inbound mTLS chain starts with (undefined when switched off). */
export function inboundTcpMetadataExchange(): NetworkFilter | undefined {
  return TELEMETRY_FEATURES.metadataExchange ? tcpListenerMetadataExchange() : undefined;
}

/** Istio's telemetry for one proxy. */
export class ProxyTelemetry {
  private readonly hcm = new Map<ListenerClass, HcmTelemetry>();
  private readonly tcp = new Map<ListenerClass, TcpTelemetry>();

  constructor(
    private readonly push: PushContext,
    private readonly proxy: Proxy,
  ) {}

  private accessLogs(c: ListenerClass): AccessLog[] {
    const specs = this.push.telemetry.accessLogging(this.proxy, workloadMode(c));
    if (!specs) {
      const m = meshAccessLog(this.push.mesh.telemetry);
      return m ? [m] : [];
    }
    const out: AccessLog[] = [];
    for (const name of [...specs.keys()].sort()) {
      const spec = specs.get(name)!;
      const p = this.push.telemetry.provider(name);
      // Unknown providers and kinds tsmesh does not implement are reported by analysis (TSM0020/TSM0021).
      if (spec.disabled || p?.kind !== "envoyFileAccessLog") continue;
      out.push(withCelFilter(providerAccessLog(p.envoyFileAccessLog), spec));
    }
    return out;
  }

  private statsConfigs(c: ListenerClass) {
    if (!TELEMETRY_FEATURES.stats) return [];
    const metrics = this.push.telemetry.metrics(this.proxy);
    const out = [];
    for (const name of [...metrics.keys()].sort()) {
      if (this.push.telemetry.provider(name)?.kind !== "prometheus") continue;
      const cfg = statsConfig(c, metrics.get(name)!);
      if (cfg) out.push(cfg);
    }
    return out;
  }

  /** What an HTTP connection manager of this class gets. */
  http(c: ListenerClass): HcmTelemetry {
    let t = this.hcm.get(c);
    if (!t) {
      t = { stats: this.statsConfigs(c).map((typedConfig) => ({ name: STATS_FILTER_NAME, typedConfig })), accessLog: this.accessLogs(c) };
      const mx = TELEMETRY_FEATURES.metadataExchange ? httpMetadataExchange(c) : undefined;
      if (mx) t.metadataExchange = mx;
      if (TELEMETRY_FEATURES.tracing) {
        const tr = hcmTracing(this.push, this.proxy, c, this.push.telemetry.tracing(this.proxy)).tracing;
        if (tr) t.tracing = tr;
      }
      this.hcm.set(c, t);
    }
    return t;
  }

  /** What a tcp_proxy chain of this class gets. */
  tcpChain(c: ListenerClass): TcpTelemetry {
    let t = this.tcp.get(c);
    if (!t) {
      t = { stats: this.statsConfigs(c).map((typedConfig) => ({ name: STATS_FILTER_NAME, typedConfig })), accessLog: this.accessLogs(c) };
      this.tcp.set(c, t);
    }
    return t;
  }
}

/**
 * What of a sidecar's identity its outbound listeners' telemetry depends on, for the listener cache
 * key: "" when every sidecar of a namespace gets the same; else its labels (a workload-scoped
 * Telemetry selects by them) and, with tracing, the service name its spans carry.
 */
export function outboundTelemetryKey(push: PushContext, proxy: Proxy): string {
  const workloadScoped = push.memo("telemetry/workload-scoped", () => push.telemetry.hasWorkloadScoped());
  // (Computed once per proxy and push, and needed for its listeners anyway.)
  const tracing = proxyTelemetry(push, proxy).http("sidecar-outbound").tracing !== undefined;
  if (!workloadScoped && !tracing) return "";
  return `${labelsKey(proxy.labels)}/${tracing ? serviceCluster(proxy) : ""}`;
}

/** The proxy's telemetry, once per push and proxy. */
export function proxyTelemetry(push: PushContext, proxy: Proxy): ProxyTelemetry {
  return push.memo(`telemetry/${proxy.id}`, () => new ProxyTelemetry(push, proxy));
}
