// A sidecar's inbound listeners (Istio's pilot/pkg/networking/core/listener_inbound.go): one chain
// config per port its workload serves (or per Sidecar ingress listener), each turned into filter
// chains by the port's PeerAuthentication mode (inbound-mtls.ts: mTLS and/or plaintext, HTTP and/or
// TCP); under capture they join virtualInbound (15006) after the passthrough chains, without capture
// (tsmesh local mode, INTERCEPTION_MODE NONE) each port gets a listener bound to the proxy's address.
import { duration } from "../../envoy/protos.js";
import type { FilterChain, Listener, ListenerFilter, NetworkFilter } from "../../envoy/types.js";
import { passthroughInboundPorts } from "../../model/inbound-ports.js";
import type { IngressListener } from "../../model/sidecar-scope.js";
import { isHTTP2Protocol, parseProtocol, type Protocol } from "../../registry/model.js";
import {
  buildFilterChain,
  httpConnectionManager,
  httpInspector,
  inboundRouteConfig,
  originalDst,
  portsPredicate,
  socketAddress,
  tcpProxyFilter,
  tlsInspector,
  TLS_TRANSPORT,
  VIRTUAL_INBOUND_BLACKHOLE_CHAIN,
  VIRTUAL_INBOUND_CATCH_ALL_HTTP_CHAIN,
  zeroDuration,
  type ChainOptions,
  type HttpChainOptions,
} from "./filters.js";
import { filterChainMatchOptions, InboundMtls, type FilterChainMatchOption, type MtlsSettings } from "./inbound-mtls.js";
import { gatewayTlsContext } from "./listener-gateway.js";
import { listenerProtocol, type SidecarInputs } from "./listener-sidecar.js";
import { policyFilters, type PolicyFilters } from "./policy-filters.js";
import { BLACKHOLE_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER, inboundClusterName, listenerName, VIRTUAL_INBOUND_LISTENER, VIRTUAL_INBOUND_PORT } from "./names.js";
import { inboundTcpMetadataExchange, proxyTelemetry } from "./telemetry/index.js";

const WILDCARD = "0.0.0.0";

/** Istio's inboundChainConfig. */
interface InboundChainConfig {
  clusterName: string;
  servicePort: number;
  targetPort: number;
  protocol: Protocol;
  /** Bind used in chain names and stat prefixes. */
  bind: string;
  /** Address a bound listener listens on. */
  listenAddress: string;
  bindToPort: boolean;
  /** Host for the trace decorator (`HOST:PORT/*`). */
  traceHost: string;
  /** A Sidecar ingress listener's own TLS (terminated when the port's PeerAuthentication mode is DISABLE). */
  tls?: IngressListener["tls"];
}

function inboundChainConfigs(inp: SidecarInputs): InboundChainConfig[] {
  const { proxy, push, scope } = inp;
  const noneMode = proxy.interceptionMode === "NONE";
  const proxyIp = proxy.ipAddresses[0] ?? WILDCARD;
  const byPort = new Map<number, InboundChainConfig>();
  if (scope.ingress.length === 0) {
    // Oldest service first wins a shared endpoint port (Istio's conflict rule).
    for (const inst of push.serviceInstances(proxy)) {
      if (byPort.has(inst.endpointPort)) continue;
      byPort.set(inst.endpointPort, {
        clusterName: inboundClusterName(inst.endpointPort),
        servicePort: inst.port.port,
        targetPort: inst.endpointPort,
        protocol: inst.port.protocol,
        bind: WILDCARD,
        listenAddress: noneMode ? proxyIp : WILDCARD,
        bindToPort: noneMode,
        traceHost: inst.service.hostname,
      });
    }
    // Local mode's passthrough ports (includeInboundPorts): bound like the services' ports, to the
    // app on the same port, protocol sniffed as Istio's inbound passthrough chains do.
    for (const port of passthroughInboundPorts(proxy, push)) {
      byPort.set(port, { clusterName: inboundClusterName(port), servicePort: port, targetPort: port, protocol: "UNSUPPORTED", bind: WILDCARD, listenAddress: proxyIp, bindToPort: true, traceHost: "" });
    }
  } else {
    const res = scope.resource;
    const sidecarName = res ? `${res.metadata.name}.${res.metadata.namespace}` : "";
    for (const i of scope.ingress) {
      const number = i.port.number;
      if (!number || byPort.has(number)) continue;
      const bindToPort = !i.captureMode || i.captureMode === "DEFAULT" ? noneMode : i.captureMode === "NONE";
      const bind = i.bind || proxyIp;
      byPort.set(number, {
        clusterName: inboundClusterName(number),
        servicePort: number,
        targetPort: number,
        protocol: parseProtocol(i.port.protocol),
        bind,
        listenAddress: bind,
        bindToPort,
        traceHost: sidecarName,
        tls: i.tls,
      });
    }
  }
  return [...byPort.values()].sort((a, b) => a.targetPort - b.targetPort);
}

/** istio.stats then tcp_proxy with the access log (after the policy filters a chain puts first). */
function inboundTcpFilters(cluster: string, inp: SidecarInputs): NetworkFilter[] {
  const t = proxyTelemetry(inp.push, inp.proxy).tcpChain("sidecar-inbound");
  return [...t.stats, tcpProxyFilter({ statPrefix: cluster, cluster, idleTimeout: inp.idleTimeoutMs !== undefined ? duration(inp.idleTimeoutMs) : undefined, accessLog: t.accessLog })];
}

/** What the chains of one inbound port (or the passthrough) share. */
interface ChainSet {
  /** Chain names: HTTP and TCP chains differ only for the passthrough chains. */
  httpName: string;
  tcpName: string;
  destinationPort?: number;
  http: HttpChainOptions;
  tcpFilters: NetworkFilter[];
}

/**
 * Istio's inboundChainForOpts: one chain per match option of the port's PeerAuthentication mode and
 * protocol (inbound-mtls.ts), mTLS chains terminating TLS with the workload certificate.
 */
function chainsForOpts(set: ChainSet, mtls: MtlsSettings, options: readonly FilterChainMatchOption[], inp: SidecarInputs, policy: PolicyFilters): FilterChain[] {
  const hcmFor = (h: HttpChainOptions): NetworkFilter =>
    httpConnectionManager({
      class: h.class,
      statPrefix: h.statPrefix!,
      routeConfig: h.routeConfig,
      http2: h.http2,
      idleTimeoutMs: inp.idleTimeoutMs,
      policyFilters: policy.http,
      telemetry: proxyTelemetry(inp.push, inp.proxy).http(h.class),
    });
  // Istio: TCP metadata exchange first on every inbound chain (it acts only when ALPN said istio-peer-exchange).
  const mx = inboundTcpMetadataExchange();
  const first = mx ? [mx] : [];
  return options.map((o) => {
    const http = o.protocol === "HTTP";
    const c: ChainOptions = {
      name: http ? set.httpName : set.tcpName,
      destinationPort: set.destinationPort,
      transportProtocol: o.transportProtocol,
      applicationProtocols: o.applicationProtocols,
    };
    if (o.tls) c.tlsContext = http ? mtls.http : mtls.tcp;
    if (http) {
      c.http = set.http;
      if (first.length > 0) c.networkFilters = first;
    } else c.networkFilters = [...first, ...policy.network, ...set.tcpFilters];
    return buildFilterChain(c, hcmFor);
  });
}

function inboundChains(cc: InboundChainConfig, inp: SidecarInputs, mtls: MtlsSettings, policy: PolicyFilters): FilterChain[] {
  const name = listenerName(cc.bind, cc.targetPort);
  const http: HttpChainOptions = {
    class: "sidecar-inbound",
    statPrefix: `inbound_${name}`,
    routeConfig: inboundRouteConfig(cc.clusterName, cc.servicePort, `${cc.traceHost}:${cc.servicePort}/*`),
    http2: isHTTP2Protocol(cc.protocol),
  };
  const set = { httpName: name, tcpName: name, destinationPort: cc.targetPort, http, tcpFilters: inboundTcpFilters(cc.clusterName, inp) };
  if (cc.tls && mtls.mode === "DISABLE") {
    // Istio: the Sidecar's own TLS, only where Istio mTLS is off; the app then sees what was inside
    // (HTTPS as HTTP, TLS as TCP).
    const ctx = gatewayTlsContext(cc.tls);
    const inner = cc.protocol === "HTTPS" ? "HTTP" : listenerProtocol(cc.protocol) === "HTTP" ? "HTTP" : "TCP";
    return chainsForOpts(set, { ...mtls, tcp: ctx, http: ctx }, [{ protocol: inner, transportProtocol: TLS_TRANSPORT, tls: true }], inp, policy);
  }
  return chainsForOpts(set, mtls, filterChainMatchOptions(mtls.mode, listenerProtocol(cc.protocol) ?? "TCP"), inp, policy);
}

interface Inspectors {
  http: boolean;
  tls: boolean;
}

/** Istio's populateListenerFilters: original_dst when not bound, inspectors only on ports whose chains need them. */
function inboundListenerFilters(chains: readonly FilterChain[], bindToPort: boolean): ListenerFilter[] {
  const lf: ListenerFilter[] = [];
  if (!bindToPort) lf.push(originalDst()); // (TPROXY's original_src is not generated: its proto is not loaded)
  const byPort = new Map<number, Inspectors>();
  for (const fc of chains) {
    const m = fc.filterChainMatch ?? {};
    const port = m.destinationPort?.value ?? 0;
    const i = byPort.get(port) ?? { http: false, tls: false };
    i.tls ||= m.transportProtocol === TLS_TRANSPORT;
    i.http ||= (m.applicationProtocols ?? []).some((a) => a === "http/1.1" || a === "h2c");
    byPort.set(port, i);
  }
  const ports = [...byPort.keys()].sort((a, b) => a - b);
  if (ports.some((p) => byPort.get(p)!.tls)) {
    const t = tlsInspector();
    if (byPort.get(0)?.tls) {
      const off = ports.filter((p) => p !== 0 && !byPort.get(p)!.tls);
      if (off.length > 0) t.filterDisabled = portsPredicate(off);
    } else {
      const on = ports.filter((p) => p !== 0 && byPort.get(p)!.tls);
      if (on.length > 0) t.filterDisabled = { notMatch: portsPredicate(on) };
    }
    lf.push(t);
  }
  if (ports.some((p) => byPort.get(p)!.http)) {
    const h = httpInspector();
    const off = ports.filter((p) => !byPort.get(p)!.http);
    if (off.length > 0) h.filterDisabled = portsPredicate(off);
    lf.push(h);
  }
  return lf;
}

function inboundListener(name: string, address: string, port: number, bindToPort: boolean, chains: FilterChain[], inp: SidecarInputs): Listener {
  const l: Listener = { name, address: socketAddress(address, port), filterChains: chains };
  const lf = inboundListenerFilters(chains, bindToPort);
  if (lf.length > 0) l.listenerFilters = lf;
  l.listenerFiltersTimeout = zeroDuration();
  l.continueOnListenerFiltersTimeout = true;
  l.trafficDirection = "INBOUND";
  if (!bindToPort && inp.proxy.interceptionMode === "TPROXY") l.transparent = { value: true };
  return l;
}

/**
 * Istio's buildInboundPassthroughChains: the loop guard, then sniffed HTTP and TCP to
 * InboundPassthroughCluster in the workload's mTLS mode, plus chains of their own for ports with a
 * port-level PeerAuthentication mode that no service (or Sidecar ingress) declares.
 */
function passthroughChains(inp: SidecarInputs, authn: InboundMtls, declared: ReadonlySet<number>, policy: PolicyFilters): FilterChain[] {
  const cluster = INBOUND_PASSTHROUGH_CLUSTER;
  const out: FilterChain[] = [
    {
      filterChainMatch: { destinationPort: { value: VIRTUAL_INBOUND_PORT } },
      filters: [tcpProxyFilter({ statPrefix: BLACKHOLE_CLUSTER, cluster: BLACKHOLE_CLUSTER })],
      name: VIRTUAL_INBOUND_BLACKHOLE_CHAIN,
    },
  ];
  for (const port of [0, ...authn.portLevelPorts().filter((p) => !declared.has(p))]) {
    const set: ChainSet = {
      httpName: VIRTUAL_INBOUND_CATCH_ALL_HTTP_CHAIN,
      tcpName: VIRTUAL_INBOUND_LISTENER,
      destinationPort: port > 0 ? port : undefined,
      // Port 0 gives Istio's (odd but familiar) `:0/*` trace decorator.
      http: { class: "sidecar-inbound", statPrefix: cluster, routeConfig: inboundRouteConfig(cluster, 0, ":0/*") },
      tcpFilters: inboundTcpFilters(cluster, inp),
    };
    const mtls = authn.forPort(port);
    out.push(...chainsForOpts(set, mtls, filterChainMatchOptions(mtls.mode, "AUTO"), inp, policy));
  }
  return out;
}

/** The sidecar's inbound listeners: virtualInbound under capture, bound per-port listeners otherwise. */
export function buildSidecarInboundListeners(inp: SidecarInputs): Listener[] {
  const out: Listener[] = [];
  const virtualChains: FilterChain[] = [];
  const authn = new InboundMtls(inp.push, inp.proxy);
  const configs = inboundChainConfigs(inp);
  // Authorization and request authentication: the same filters on every inbound chain (Istio's
  // listener builder builds them once per proxy), the loop guard aside.
  const policy = policyFilters(inp.proxy, inp.push);
  for (const cc of configs) {
    const chains = inboundChains(cc, inp, authn.forPort(cc.targetPort), policy);
    if (cc.bindToPort) out.push(inboundListener(listenerName(cc.listenAddress, cc.targetPort), cc.listenAddress, cc.targetPort, true, chains, inp));
    else virtualChains.push(...chains);
  }
  if (inp.proxy.interceptionMode !== "NONE") {
    const chains = [...passthroughChains(inp, authn, new Set(configs.map((c) => c.targetPort)), policy), ...virtualChains];
    out.unshift(inboundListener(VIRTUAL_INBOUND_LISTENER, WILDCARD, VIRTUAL_INBOUND_PORT, false, chains, inp));
  }
  return out;
}
