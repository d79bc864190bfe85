// A sidecar's outbound listeners (Istio's pilot/pkg/networking/core/listener.go
// buildSidecarOutboundListeners, listener_builder.go virtual listeners): outbound listeners per
// service port (HTTP ports share `0.0.0.0_PORT` and route through RDS named by port; TCP/TLS ports
// get tcp_proxy chains, by VIP or by SNI), Sidecar egress listeners with explicit port and bind, and
// virtualOutbound (15001). Inbound listeners (virtualInbound, or one bound listener per workload port
// when the proxy does not capture traffic) are listener-inbound.ts'.
//
// Two tsmesh choices differ from Istio's NONE mode on purpose: outbound service listeners stay
// `0.0.0.0_PORT` with bindToPort false (the proxy serves them through virtualOutbound, which is
// kept), and inbound listeners are built from the workload's service ports and bound to the
// proxy's own address (Istio builds none without Sidecar ingress listeners).
import { duration } from "../../envoy/protos.js";
import type { FilterChain, Listener, ListenerFilter, NetworkFilter } from "../../envoy/types.js";
import type { PushContext } from "../../model/push-context.js";
import type { Proxy } from "../../model/proxy.js";
import type { EgressListener, SidecarScope } from "../../model/sidecar-scope.js";
import { hostsOverlap, MESH_GATEWAY } from "../../api/hosts.js";
import { isHTTPProtocol, isTLSProtocol, parseProtocol, type Protocol, type Service } from "../../registry/model.js";
import {
  buildFilterChain,
  chainMatchKey,
  httpConnectionManager,
  httpInspector,
  isMatchAll,
  needsTlsInspector,
  PASSTHROUGH_FILTER_CHAIN,
  PLAINTEXT_HTTP_ALPNS,
  RAW_BUFFER,
  socketAddress,
  tcpProxyFilter,
  tlsInspector,
  VIRTUAL_OUTBOUND_BLACKHOLE_CHAIN,
  VIRTUAL_OUTBOUND_CATCH_ALL_TCP_CHAIN,
  zeroDuration,
  type ChainOptions,
  type HttpChainOptions,
} from "./filters.js";
import {
  BLACKHOLE_CLUSTER,
  listenerName,
  outboundClusterName,
  outboundRouteName,
  PASSTHROUGH_CLUSTER,
  VIRTUAL_OUTBOUND_LISTENER,
  VIRTUAL_OUTBOUND_PORT,
} from "./names.js";
import {
  configsForHost,
  sidecarTcpChains,
  sidecarTlsChains,
  vsHosts,
  type L4Source,
  type ListenPort,
  type NetworkFilterContext,
  type VirtualService,
} from "./tcproute.js";
import { proxyTelemetry } from "./telemetry/index.js";

const WILDCARD = "0.0.0.0";
const LOCALHOST = "127.0.0.1";
const MESH_GATEWAYS: ReadonlySet<string> = new Set([MESH_GATEWAY]);

/** What the sidecar builders read from the proxy (the memo key names exactly these). */
export interface SidecarInputs {
  proxy: Proxy;
  push: PushContext;
  scope: SidecarScope;
  /** Node metadata IDLE_TIMEOUT in ms. */
  idleTimeoutMs?: number;
}

/** Istio's ModelProtocolToListenerProtocol. */
export type ListenerProtocol = "HTTP" | "TCP" | "AUTO";

export function listenerProtocol(p: Protocol): ListenerProtocol | undefined {
  if (isHTTPProtocol(p)) return "HTTP";
  if (p === "UNSUPPORTED") return "AUTO";
  if (p === "UDP") return undefined;
  return "TCP"; // TCP, TLS, HTTPS, MONGO, REDIS, MYSQL
}

function isTCPLike(p: Protocol): boolean {
  return listenerProtocol(p) === "TCP";
}

// ---------------------------------------------------------------------------------------------
// outbound

interface OutboundEntry {
  port: ListenPort;
  bind: string;
  bindToPort: boolean;
  /** Set for entries from explicit egress listeners: the catch-all listener adds nothing to them. */
  locked: boolean;
  chains: ChainOptions[];
  protocol: Protocol;
  /** chainMatchKey of every chain (conflict detection without a quadratic scan). */
  keys?: Set<string>;
}

/** An egress listener with the services and VirtualServices its hosts import (Istio's IstioEgressListenerWrapper). */
interface EgressView {
  listener?: EgressListener;
  services: readonly Service[];
  virtualServices: readonly VirtualService[];
}

interface EgressHost {
  namespace: string;
  dnsName: string;
}

function parseEgressHosts(l: EgressListener, sidecarNamespace: string): EgressHost[] {
  return l.hosts.map((h) => {
    const slash = h.indexOf("/");
    if (slash < 0) return { namespace: "*", dnsName: h };
    const ns = h.slice(0, slash);
    return { namespace: ns === "." ? sidecarNamespace : ns, dnsName: h.slice(slash + 1) };
  });
}

function egressAdmits(hosts: readonly EgressHost[], namespace: string, hostname: string): boolean {
  for (const h of hosts) {
    if (h.namespace === "~") continue;
    if (h.namespace !== "*" && h.namespace !== namespace) continue;
    if (hostsOverlap(h.dnsName, hostname)) return true;
  }
  return false;
}

function egressViews(inp: SidecarInputs): EgressView[] {
  const { proxy, push, scope } = inp;
  const services = push.servicesFor(proxy);
  const meshVs = push.virtualServices(proxy.namespace, MESH_GATEWAY);
  if (scope.egress.length === 0 || !scope.resource) {
    return [{ services, virtualServices: meshVs.filter((vs) => vsHosts(vs).some((h) => scope.allowsHost(vs.metadata.namespace, h))) }];
  }
  const res = scope.resource;
  // A root-namespace Sidecar applies to other namespaces with "." meaning the workload's namespace.
  const sidecarNs = res.metadata.namespace === push.mesh.rootNamespace ? proxy.namespace : res.metadata.namespace;
  return scope.egress.map((l) => {
    const hosts = parseEgressHosts(l, sidecarNs);
    return {
      listener: l,
      services: services.filter((s) => egressAdmits(hosts, s.namespace, s.hostname)),
      virtualServices: meshVs.filter((vs) => vsHosts(vs).some((h) => egressAdmits(hosts, vs.metadata.namespace, h))),
    };
  });
}

/** The service's listen address: its first VIP, else 0.0.0.0. */
function serviceAddress(svc: Service): string {
  return svc.addresses[0] ?? WILDCARD;
}

interface OutboundOptions {
  service: Service;
  port: ListenPort;
  bind: string;
  bindToPort: boolean;
}

/** Istio's buildSidecarOutboundHTTPListenerOpts. */
function httpChainFor(o: OutboundOptions, lp: ListenerProtocol): ChainOptions {
  let rds: string;
  if (o.port.port === 0) rds = o.bind;
  else if (lp === "AUTO" && o.bind !== WILDCARD) rds = `${o.service.hostname}:${o.port.port}`; // a sniffed listener of its own
  else rds = outboundRouteName(o.port.port);
  return { http: { class: "sidecar-outbound", rds } };
}

/** The HTTP chain of a sniffed listener: only plaintext HTTP the http_inspector recognised. */
function sniffedHttp(c: ChainOptions): ChainOptions {
  return { ...c, applicationProtocols: PLAINTEXT_HTTP_ALPNS, transportProtocol: RAW_BUFFER };
}

function tcpChainsFor(o: OutboundOptions, bind: string, cidrs: readonly string[], virtualServices: readonly VirtualService[], inp: SidecarInputs, ctx: NetworkFilterContext): ChainOptions[] {
  const src: L4Source = { labels: inp.proxy.labels, namespace: inp.proxy.namespace, gateways: MESH_GATEWAYS, port: o.port.port };
  const opts = {
    ctx,
    src,
    service: o.service,
    listenPort: o.port,
    bind,
    serviceAddress: cidrs.length > 0 ? "" : serviceAddress(o.service),
    destinationCidrs: cidrs,
    virtualServices: configsForHost(virtualServices, o.service.hostname),
  };
  return isTLSProtocol(o.port.protocol) ? sidecarTlsChains(opts) : sidecarTcpChains(opts);
}

/** Istio's mergeTCPFilterChains: add the incoming chains whose matches differ from every existing one. */
function mergeChains(cur: OutboundEntry, incoming: readonly ChainOptions[]): void {
  // Match keys of the existing chains, rebuilt when the chains were replaced (sniffing rewrites them).
  if (!cur.keys || cur.keys.size !== cur.chains.length) cur.keys = new Set(cur.chains.map(chainMatchKey));
  for (const c of incoming) {
    const k = chainMatchKey(c);
    if (cur.keys.has(k)) continue; // identical match: Istio keeps the existing chain (a TCP-over-TCP conflict)
    cur.keys.add(k);
    cur.chains.push(c);
  }
}

/** HTTP and TCP on one wildcard listener: the HTTP chain now needs the http_inspector's verdict. */
function sniffHttpChains(entry: OutboundEntry): void {
  if (entry.bind !== WILDCARD) return;
  entry.chains = entry.chains.map((c) => (c.http && !c.applicationProtocols ? sniffedHttp(c) : c));
  entry.keys = undefined;
}

/**
 * Several sniffed services on one wildcard listener: non-HTTP traffic cannot be told apart, so it
 * goes to its original destination (PassthroughCluster) instead of the first service's cluster
 * (Istio keeps the first service's; tsmesh's ServiceEntries without VIPs make this common).
 */
function shareSniffedPort(entry: OutboundEntry, inp: SidecarInputs): void {
  const idleTimeout = inp.idleTimeoutMs !== undefined ? duration(inp.idleTimeoutMs) : undefined;
  const t = proxyTelemetry(inp.push, inp.proxy).tcpChain("sidecar-outbound");
  const passthrough = [...t.stats, tcpProxyFilter({ statPrefix: PASSTHROUGH_CLUSTER, cluster: PASSTHROUGH_CLUSTER, idleTimeout, accessLog: t.accessLog })];
  entry.chains = entry.chains.map((c) => (!c.http && isMatchAll(c) ? { networkFilters: passthrough } : c));
  entry.keys = undefined;
}

/** Istio's buildSidecarOutboundListener: adds one service port to the listener map, resolving conflicts. */
function addOutbound(o: OutboundOptions, map: Map<string, OutboundEntry>, virtualServices: readonly VirtualService[], inp: SidecarInputs, ctx: NetworkFilterContext): void {
  const protocol = o.port.protocol;
  const lp = listenerProtocol(protocol);
  if (!lp) return; // UDP: no listener
  let bind = o.bind;
  let cidrs: string[] = [];
  if (lp !== "HTTP") {
    if (bind === "") {
      const addr = serviceAddress(o.service);
      if (addr.includes("/")) {
        bind = WILDCARD;
        cidrs = [addr];
      } else bind = addr;
    }
  } else if (bind === "") bind = WILDCARD;
  const key = listenerName(bind, o.port.port);
  const cur = map.get(key);
  if (cur?.locked) return;
  const opts = { ...o, bind };

  type Conflict = "none" | "HTTPOverTCP" | "TCPOverHTTP" | "TCPOverTCP" | "TCPOverAuto" | "AutoOverHTTP" | "AutoOverTCP";
  let conflict: Conflict = "none";
  let chains: ChainOptions[];
  if (protocol === "HTTP_PROXY") {
    if (cur) return;
    chains = [httpChainFor(opts, lp)];
  } else if (lp === "HTTP") {
    if (cur) {
      if (!isTCPLike(cur.protocol)) return; // the HTTP listener exists: RDS carries every service on the port
      conflict = "HTTPOverTCP";
    }
    chains = [httpChainFor(opts, lp)];
  } else if (lp === "TCP") {
    chains = tcpChainsFor(opts, bind, cidrs, virtualServices, inp, ctx);
    if (cur) conflict = isHTTPProtocol(cur.protocol) ? "TCPOverHTTP" : isTCPLike(cur.protocol) ? "TCPOverTCP" : "TCPOverAuto";
  } else {
    if (cur) {
      if (isHTTPProtocol(cur.protocol)) conflict = "AutoOverHTTP";
      else if (isTCPLike(cur.protocol)) conflict = "AutoOverTCP";
      else {
        if (bind === WILDCARD) shareSniffedPort(cur, inp);
        return;
      }
    }
    chains = [...tcpChainsFor(opts, bind, cidrs, virtualServices, inp, ctx), sniffedHttp(httpChainFor(opts, lp))];
  }

  // MongoDB and MySQL are server-first: they cannot share a port with anything else.
  if (cur && conflict !== "none") {
    const wellKnown = (p: Protocol): boolean => p === "MONGO" || p === "MYSQL";
    if ((wellKnown(protocol) || wellKnown(cur.protocol)) && protocol !== cur.protocol) return;
  }

  switch (conflict) {
    case "none":
    case "AutoOverHTTP":
      map.set(key, { port: o.port, bind, bindToPort: o.bindToPort, locked: false, chains, protocol });
      break;
    case "HTTPOverTCP":
    case "TCPOverHTTP":
    case "AutoOverTCP":
      // HTTP and TCP on one port: the HTTP chain matches what the http_inspector recognised first,
      // so it no longer collides with the TCP chain.
      cur!.protocol = "UNSUPPORTED";
      sniffHttpChains(cur!);
      mergeChains(cur!, bind === WILDCARD ? chains.map((c) => (c.http && !c.applicationProtocols ? sniffedHttp(c) : c)) : chains);
      break;
    case "TCPOverTCP":
    case "TCPOverAuto":
      mergeChains(cur!, chains);
      break;
  }
}

/** The egress cluster for traffic no listener claims: PassthroughCluster, an egress proxy, or BlackHoleCluster. */
function egressCluster(inp: SidecarInputs): string {
  if (inp.scope.outboundTrafficPolicy !== "ALLOW_ANY") return BLACKHOLE_CLUSTER;
  const egressProxy = inp.scope.resource?.spec.outboundTrafficPolicy?.egressProxy;
  if (egressProxy) return outboundClusterName(egressProxy.port?.number ?? 0, egressProxy.host, egressProxy.subset ?? "");
  return PASSTHROUGH_CLUSTER;
}

/** Istio's buildOutboundCatchAllNetworkFiltersOnly. */
function catchAllFilters(inp: SidecarInputs): NetworkFilter[] {
  const cluster = egressCluster(inp);
  const t = proxyTelemetry(inp.push, inp.proxy).tcpChain("sidecar-outbound");
  return [...t.stats, tcpProxyFilter({ statPrefix: cluster, cluster, idleTimeout: inp.idleTimeoutMs !== undefined ? duration(inp.idleTimeoutMs) : undefined, accessLog: t.accessLog })];
}

/** Istio's buildListenerFromEntry. */
function outboundListener(e: OutboundEntry, inp: SidecarInputs): Listener {
  const name = listenerName(e.bind, e.port.port);
  const hcmFor = (h: HttpChainOptions): NetworkFilter =>
    httpConnectionManager({
      class: h.class,
      statPrefix: h.statPrefix ?? `outbound_${name}`,
      rds: h.rds,
      idleTimeoutMs: inp.idleTimeoutMs,
      telemetry: proxyTelemetry(inp.push, inp.proxy).http(h.class),
    });
  const needHttp = e.chains.some((c) => c.applicationProtocols && c.applicationProtocols.length > 0);
  const needTls = e.chains.some(needsTlsInspector);
  const filterChains: FilterChain[] = [];
  let defaultChain: FilterChain | undefined;
  for (const c of e.chains) {
    if (isMatchAll(c)) defaultChain = buildFilterChain(c, hcmFor, false);
    else filterChains.push(buildFilterChain(c, hcmFor));
  }
  if (defaultChain && filterChains.length === 0) {
    filterChains.push(defaultChain);
    defaultChain = undefined;
  } else if (!defaultChain) {
    defaultChain = { filterChainMatch: {}, filters: catchAllFilters(inp), name: PASSTHROUGH_FILTER_CHAIN };
  }
  const l: Listener = { name, address: socketAddress(e.bind, e.port.port), filterChains };
  if (defaultChain) l.defaultFilterChain = defaultChain;
  // A TLS inspector whenever the HTTP inspector runs: matching ALPN without it makes Envoy inject one.
  const listenerFilters: ListenerFilter[] = [];
  if (needTls || needHttp) listenerFilters.push(tlsInspector());
  if (needHttp) listenerFilters.push(httpInspector());
  if (listenerFilters.length > 0) l.listenerFilters = listenerFilters;
  l.listenerFiltersTimeout = zeroDuration(); // mesh protocolDetectionTimeout: 0s (wait for the inspectors)
  l.continueOnListenerFiltersTimeout = true;
  l.trafficDirection = "OUTBOUND";
  if (!e.bindToPort) l.bindToPort = { value: false };
  return l;
}

/** virtualOutbound (15001): original-destination handoff to the per-port listeners, else pass through / black hole. */
function virtualOutboundListener(inp: SidecarInputs): Listener {
  const l: Listener = {
    name: VIRTUAL_OUTBOUND_LISTENER,
    address: socketAddress(WILDCARD, VIRTUAL_OUTBOUND_PORT),
    filterChains: [
      {
        // Traffic addressed to 15001 itself would loop.
        filterChainMatch: { destinationPort: { value: VIRTUAL_OUTBOUND_PORT } },
        filters: [tcpProxyFilter({ statPrefix: BLACKHOLE_CLUSTER, cluster: BLACKHOLE_CLUSTER })],
        name: VIRTUAL_OUTBOUND_BLACKHOLE_CHAIN,
      },
      { filters: catchAllFilters(inp), name: VIRTUAL_OUTBOUND_CATCH_ALL_TCP_CHAIN },
    ],
    trafficDirection: "OUTBOUND",
    useOriginalDst: { value: true },
  };
  if (inp.proxy.interceptionMode === "TPROXY") l.transparent = { value: true };
  return l;
}

/** The sidecar's outbound listeners plus virtualOutbound. */
export function buildSidecarOutboundListeners(inp: SidecarInputs): Listener[] {
  const { proxy } = inp;
  const ctx: NetworkFilterContext = { push: inp.push, namespace: proxy.namespace, idleTimeoutMs: inp.idleTimeoutMs, telemetry: proxyTelemetry(inp.push, proxy).tcpChain("sidecar-outbound") };
  const map = new Map<string, OutboundEntry>();
  const noneMode = proxy.interceptionMode === "NONE";
  for (const view of egressViews(inp)) {
    const l = view.listener;
    const explicitPort = l?.port?.number ? l.port : undefined;
    let bindToPort = false;
    // Istio binds every egress listener in NONE mode; tsmesh keeps the catch-all one on virtualOutbound.
    if (noneMode && explicitPort) bindToPort = true;
    else if (l?.captureMode === "NONE") bindToPort = true;
    else if (l?.bind?.startsWith("unix://")) bindToPort = true;
    const bind = l?.bind ? l.bind : bindToPort ? LOCALHOST : "";
    if (explicitPort) {
      const port: ListenPort = { port: explicitPort.number!, protocol: parseProtocol(explicitPort.protocol), name: explicitPort.name };
      for (const service of view.services) addOutbound({ service, port, bind, bindToPort }, map, view.virtualServices, inp, ctx);
    } else {
      for (const e of map.values()) e.locked = true;
      for (const service of view.services) {
        for (const p of service.ports) {
          addOutbound({ service, port: { port: p.port, protocol: p.protocol, name: p.name }, bind, bindToPort }, map, view.virtualServices, inp, ctx);
        }
      }
    }
  }
  const out = [...map.values()].map((e) => outboundListener(e, inp));
  out.push(virtualOutboundListener(inp));
  return out;
}
