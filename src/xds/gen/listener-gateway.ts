// A gateway's (router's) listeners, as Istio's pilot/pkg/model/gateway.go mergeGateways and
// pilot/pkg/networking/core/gateway.go buildGatewayListeners build them: the Gateway servers that
// select the proxy are merged per port (plain HTTP servers share one chain and the route
// `http.PORT`; TLS servers get one chain each, told apart by SNI), then each port becomes a
// `0.0.0.0_PORT` listener bound to the port with OUTBOUND direction.
import type { GatewayServer } from "../../api/resource.js";
import type { CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, Listener, NetworkFilter, TlsParameters } from "../../envoy/types.js";
import type { GatewayServerRef, PushContext, ServiceInstance } from "../../model/push-context.js";
import { gatewayNumTrustedProxies } from "../../model/gateway-topology.js";
import type { Proxy } from "../../model/proxy.js";
import { isHTTPProtocol, parseProtocol, type Protocol } from "../../registry/model.js";
import {
  ALPN_HTTP,
  buildFilterChain,
  httpConnectionManager,
  needsTlsInspector,
  socketAddress,
  tlsInspector,
  zeroDuration,
  type ChainOptions,
  type HttpChainOptions,
} from "./filters.js";
import { policyFilters } from "./policy-filters.js";
import { gatewayHttpRouteName, gatewayHttpsRouteName, listenerName } from "./names.js";
import { gatewayTcpFilters, gatewayTlsPassthroughChains, type GatewayServerView, type NetworkFilterContext } from "./tcproute.js";
import { credentialSdsSecretConfig, SDS_CA_SUFFIX, SDS_DEFAULT_RESOURCE, SDS_ROOT_RESOURCE, workloadSdsSecretConfig } from "./sds.js";
import { proxyTelemetry } from "./telemetry/index.js";

const WILDCARD = "0.0.0.0";

type TlsSettings = NonNullable<GatewayServer["tls"]>;

/** A server after Istio's sanitizeServerHostNamespace, with the gateway it belongs to. */
export interface MergedServer extends GatewayServerView {
  gateway: string;
  gatewayName: string;
  gatewayNamespace: string;
  name?: string;
  tls?: TlsSettings;
  protocol: Protocol;
  /** The port actually listened on (a Service port translated to its target port). */
  resolvedPort: number;
  routeName: string;
  sniHosts: string[];
}

/** Servers merged on one (port, bind, protocol), like Istio's MergedServers. */
export interface ServerGroup {
  port: number;
  bind: string;
  protocol: Protocol;
  routeName: string;
  servers: MergedServer[];
}

/** Istio's sanitizeServerHostNamespace: `./h` becomes `NS/h`; a `*` namespace is dropped (and `*` plus `*` is just `*`). */
export function sanitizeServerHosts(hosts: readonly string[], namespace: string): string[] {
  const out: string[] = [];
  for (const h of hosts) {
    const slash = h.indexOf("/");
    if (slash < 0) {
      out.push(h);
      continue;
    }
    const ns = h.slice(0, slash);
    const name = h.slice(slash + 1);
    if (ns === ".") out.push(`${namespace}/${name}`);
    else if (ns === "*") {
      if (name === "*") return ["*"];
      out.push(name);
    } else out.push(h);
  }
  return out;
}

/** Istio's GetSNIHostsForServer: unique server hosts without their namespace, sorted. */
function sniHostsFor(hosts: readonly string[]): string[] {
  return [...new Set(hosts.map((h) => (h.includes("/") ? h.slice(h.indexOf("/") + 1) : h)))].sort();
}

function isPassthrough(tls: TlsSettings | undefined): boolean {
  return tls?.mode === "PASSTHROUGH" || tls?.mode === "AUTO_PASSTHROUGH";
}

/** Istio's IsTLSServer: TLS settings on a non-HTTP server. */
function isTlsServer(s: MergedServer): boolean {
  return s.tls !== undefined && !isHTTPProtocol(s.protocol);
}

/** Istio's IsHTTPServer: HTTP, or HTTPS terminated here. */
function isHttpServer(s: MergedServer): boolean {
  return isHTTPProtocol(s.protocol) || (s.protocol === "HTTPS" && s.tls !== undefined && !isPassthrough(s.tls));
}

/** Istio's gatewayRDSRouteName: `http.PORT`, `https.PORT.PORTNAME.GATEWAY.NAMESPACE`, or "" for TCP/TLS. */
function routeNameFor(s: Pick<MergedServer, "protocol" | "tls" | "port" | "gatewayName" | "gatewayNamespace">, resolvedPort: number): string {
  if (isHTTPProtocol(s.protocol)) return gatewayHttpRouteName(resolvedPort);
  if (s.protocol === "HTTPS" && s.tls && !isPassthrough(s.tls)) return gatewayHttpsRouteName(resolvedPort, s.port.name, s.gatewayName, s.gatewayNamespace);
  return "";
}

/**
 * Istio's resolvePorts with legacy label selection: a server port that is a port of a Service the
 * gateway workload backs is listened on at that port's target port (the first match); any other
 * number is used as is.
 */
export function resolveGatewayPort(number: number, instances: readonly ServiceInstance[]): number {
  for (const inst of instances) if (inst.port.port === number) return inst.endpointPort;
  return number;
}

function canMergeProtocols(current: Protocol, p: Protocol): boolean {
  return (isHTTPProtocol(current) || current === p) && isHTTPProtocol(p);
}

/** Istio's mergeGateways (QUIC and credential verification aside): the server groups, in order. */
export function mergeGatewayServers(refs: readonly GatewayServerRef[], proxy: Proxy, push: PushContext): ServerGroup[] {
  const groups: ServerGroup[] = [];
  const findGroup = (port: number, bind: string, protocol: Protocol): ServerGroup | undefined =>
    groups.find((g) => g.port === port && g.bind === bind && g.protocol === protocol);
  const gatewayPorts = new Set<number>();
  const plainText = new Map<number, ServerGroup>();
  const nonPlainTextBinds = new Map<number, Set<string>>();
  const routeNames = new Set<string>();
  const tlsHostsByPort = new Map<number, Map<string, string>>();
  const instances = push.serviceInstances(proxy);
  for (const ref of refs) {
    const server = ref.server;
    const slash = ref.gateway.indexOf("/");
    const gatewayNamespace = ref.gateway.slice(0, slash);
    const gatewayName = ref.gateway.slice(slash + 1);
    const hosts = sanitizeServerHosts(server.hosts, gatewayNamespace);
    const protocol = parseProtocol(server.port.protocol);
    const resolvedPort = resolveGatewayPort(server.port.number, instances);
    const base = { port: server.port, tls: server.tls, protocol, gatewayName, gatewayNamespace };
    const s: MergedServer = {
      ...base,
      hosts,
      bind: server.bind,
      tlsMode: server.tls?.mode,
      gateway: ref.gateway,
      name: server.name,
      resolvedPort,
      routeName: routeNameFor(base, resolvedPort),
      sniHosts: server.tls ? sniHostsFor(hosts) : [],
    };
    const bind = server.bind ?? "";
    if (s.tls) {
      // Identical SNI matches on one listener would be rejected by Envoy.
      let known = tlsHostsByPort.get(resolvedPort);
      if (!known) tlsHostsByPort.set(resolvedPort, (known = new Map()));
      if (hosts.some((h) => known.get(h) === bind)) continue;
      for (const h of hosts) known.set(h, bind);
    }
    if (gatewayPorts.has(resolvedPort)) {
      const current = plainText.get(resolvedPort);
      if (current) {
        if (current.bind === bind && !canMergeProtocols(protocol, current.protocol)) continue; // conflict with the existing server
        if (current.bind === bind && s.routeName === "") continue;
        if (current.bind !== bind) {
          let g = findGroup(resolvedPort, bind, protocol);
          if (!g) groups.push((g = { port: resolvedPort, bind, protocol, routeName: s.routeName, servers: [] }));
          g.routeName = s.routeName;
          g.servers.push(s);
        } else current.servers.push(s);
        if (s.routeName) routeNames.add(s.routeName);
      } else {
        if (isHttpServer(s)) {
          if (s.routeName === "" || routeNames.has(s.routeName)) continue; // HTTPS servers need distinct port names
          routeNames.add(s.routeName);
        }
        let binds = nonPlainTextBinds.get(resolvedPort);
        const newBind = !binds || !binds.has(bind);
        if (!binds) nonPlainTextBinds.set(resolvedPort, (binds = new Set()));
        binds.add(bind);
        if (!s.tls && !newBind) continue; // a plaintext server cannot join TLS servers
        const g = findGroup(resolvedPort, bind, protocol);
        if (g) g.servers.push(s);
        else groups.push({ port: resolvedPort, bind, protocol, routeName: s.routeName, servers: [s] });
      }
    } else {
      gatewayPorts.add(resolvedPort);
      const g: ServerGroup = { port: resolvedPort, bind, protocol, routeName: s.routeName, servers: [s] };
      if (!isTlsServer(s)) plainText.set(resolvedPort, g);
      else nonPlainTextBinds.set(resolvedPort, new Set([bind]));
      if (isHttpServer(s)) routeNames.add(s.routeName);
      groups.push(g);
    }
  }
  return groups;
}

const TLS_VERSIONS: Readonly<Record<string, TlsParameters.TlsProtocol>> = {
  TLSV1_0: "TLSv1_0",
  TLSV1_1: "TLSv1_1",
  TLSV1_2: "TLSv1_2",
  TLSV1_3: "TLSv1_3",
};

/**
 * Istio's BuildListenerTLSContext for ISTIO_MUTUAL: the gateway's own workload certificate and the
 * mesh root from its agent (sds-grpc), a client certificate required and checked against the
 * server's subjectAltNames; a TCP server also accepts Istio's metadata-exchange ALPN.
 */
function istioMutualServerContext(tls: TlsSettings, tcp: boolean): DownstreamTlsContext {
  const dvc: CertificateValidationContext = {};
  if (tls.subjectAltNames?.length) dvc.matchSubjectAltNames = tls.subjectAltNames.map((exact) => ({ exact }));
  if (tls.caCrl) dvc.crl = { filename: tls.caCrl };
  const common: CommonTlsContext = {
    tlsCertificateSdsSecretConfigs: [workloadSdsSecretConfig(SDS_DEFAULT_RESOURCE)],
    combinedValidationContext: { defaultValidationContext: dvc, validationContextSdsSecretConfig: workloadSdsSecretConfig(SDS_ROOT_RESOURCE) },
    alpnProtocols: tcp ? ["istio-peer-exchange", ...ALPN_HTTP] : [...ALPN_HTTP],
  };
  return { commonTlsContext: common, requireClientCertificate: { value: true } };
}

/**
 * The DownstreamTlsContext of a TLS-terminating server (Istio's BuildListenerTLSContext):
 * ISTIO_MUTUAL with the mesh's certificates; SIMPLE/MUTUAL/OPTIONAL_MUTUAL with certificates from
 * `credentialName` over SDS (the CA as `NAME-cacert`), else from files, client certificates
 * required for MUTUAL and validated for OPTIONAL_MUTUAL, ALPN h2 and http/1.1, protocol versions
 * and cipher suites from the server. `tcp`: a TCP/TLS server (not HTTPS).
 */
export function gatewayTlsContext(tls: TlsSettings, tcp = false): DownstreamTlsContext {
  if (tls.mode === "ISTIO_MUTUAL") return istioMutualServerContext(tls, tcp);
  const common: CommonTlsContext = {};
  const mode = tls.mode ?? "SIMPLE";
  const validateClient = mode === "MUTUAL" || mode === "OPTIONAL_MUTUAL";
  const params: TlsParameters = {};
  if (tls.minProtocolVersion && tls.minProtocolVersion !== "TLS_AUTO") params.tlsMinimumProtocolVersion = TLS_VERSIONS[tls.minProtocolVersion];
  if (tls.maxProtocolVersion && tls.maxProtocolVersion !== "TLS_AUTO") params.tlsMaximumProtocolVersion = TLS_VERSIONS[tls.maxProtocolVersion];
  if (tls.cipherSuites && tls.cipherSuites.length > 0) params.cipherSuites = [...tls.cipherSuites];
  if (Object.keys(params).length > 0) common.tlsParams = params;
  const sans = (tls.subjectAltNames ?? []).map((exact) => ({ exact }));
  const credentialNames = tls.credentialNames && tls.credentialNames.length > 0 ? tls.credentialNames : tls.credentialName ? [tls.credentialName] : [];
  if (credentialNames.length > 0) {
    common.tlsCertificateSdsSecretConfigs = credentialNames.map((n) => credentialSdsSecretConfig(n));
    if (validateClient) {
      const dvc: CertificateValidationContext = {};
      if (sans.length > 0) dvc.matchSubjectAltNames = sans;
      if (tls.verifyCertificateSpki?.length) dvc.verifyCertificateSpki = [...tls.verifyCertificateSpki];
      if (tls.verifyCertificateHash?.length) dvc.verifyCertificateHash = [...tls.verifyCertificateHash];
      common.combinedValidationContext = {
        defaultValidationContext: dvc,
        // Istio's ApplyCredentialSDSToServerCommonTLSContext: caCertCredentialName as written, else NAME-cacert.
        validationContextSdsSecretConfig: credentialSdsSecretConfig(tls.caCertCredentialName || `${credentialNames[0]}${SDS_CA_SUFFIX}`),
      };
    } else if (sans.length > 0) {
      common.validationContext = { matchSubjectAltNames: sans };
    }
  } else {
    const files =
      tls.tlsCertificates && tls.tlsCertificates.length > 0
        ? tls.tlsCertificates.map((c) => ({ cert: c.serverCertificate, key: c.privateKey }))
        : [{ cert: tls.serverCertificate, key: tls.privateKey }];
    const certs = files.filter((f) => f.cert && f.key).map((f) => ({ certificateChain: { filename: f.cert }, privateKey: { filename: f.key } }));
    if (certs.length > 0) common.tlsCertificates = certs;
    if (validateClient && tls.caCertificates) {
      const vc: CertificateValidationContext = { trustedCa: { filename: tls.caCertificates } };
      if (sans.length > 0) vc.matchSubjectAltNames = sans;
      if (tls.verifyCertificateSpki?.length) vc.verifyCertificateSpki = [...tls.verifyCertificateSpki];
      if (tls.verifyCertificateHash?.length) vc.verifyCertificateHash = [...tls.verifyCertificateHash];
      if (tls.caCrl) vc.crl = { filename: tls.caCrl };
      common.validationContext = vc;
    }
  }
  common.alpnProtocols = [...ALPN_HTTP];
  return { commonTlsContext: common, requireClientCertificate: { value: mode === "MUTUAL" } };
}

/** Istio's createGatewayTCPFilterChainOpts. */
function tcpServerChains(s: MergedServer, push: PushContext, ctx: NetworkFilterContext, knownSni: Map<string, string>): ChainOptions[] {
  const vss = push.virtualServices(ctx.namespace, s.gateway);
  if (!s.tls) {
    const filters = gatewayTcpFilters(s, s.gateway, vss, ctx);
    return filters ? [{ networkFilters: filters }] : [];
  }
  if (!isPassthrough(s.tls)) {
    // TCP with TLS termination: the TLS context, then `tcp[]` routes.
    const filters = gatewayTcpFilters(s, s.gateway, vss, ctx);
    return filters ? [{ sniHosts: s.sniHosts, tlsContext: gatewayTlsContext(s.tls, true), networkFilters: filters }] : [];
  }
  if (s.tls.mode === "AUTO_PASSTHROUGH") return []; // SNI-DNAT to mesh clusters: multi-network support comes later
  return gatewayTlsPassthroughChains(s, s.gateway, vss, ctx, knownSni);
}

/** Chains of one server group (Istio's buildGatewayTCPBasedFilterChains). */
function groupChains(g: ServerGroup, push: PushContext, ctx: NetworkFilterContext, knownSni: Map<string, string>): ChainOptions[] {
  if (isHTTPProtocol(g.protocol)) return [{ http: { class: "gateway", rds: g.routeName } }];
  const out: ChainOptions[] = [];
  for (const s of g.servers) {
    if (s.protocol === "HTTPS" && s.tls && !isPassthrough(s.tls)) {
      out.push({
        sniHosts: s.sniHosts,
        tlsContext: gatewayTlsContext(s.tls),
        http: { class: "gateway", rds: s.routeName, statPrefix: s.name || undefined },
      });
    } else out.push(...tcpServerChains(s, push, ctx, knownSni));
  }
  return out;
}

/** The router's listeners. */
export function buildGatewayListeners(proxy: Proxy, push: PushContext, idleTimeoutMs: number | undefined): Listener[] {
  const ctx: NetworkFilterContext = { push, namespace: proxy.namespace, idleTimeoutMs, telemetry: proxyTelemetry(push, proxy).tcpChain("gateway") };
  const byListener = new Map<string, { bind: string; port: number; chains: ChainOptions[] }>();
  const knownSniByPort = new Map<number, Map<string, string>>();
  for (const g of mergeGatewayServers(push.gatewayServers(proxy), proxy, push)) {
    const bind = g.bind || WILDCARD;
    const name = listenerName(bind, g.port);
    let entry = byListener.get(name);
    if (!entry) byListener.set(name, (entry = { bind, port: g.port, chains: [] }));
    let known = knownSniByPort.get(g.port);
    if (!known) knownSniByPort.set(g.port, (known = new Map()));
    entry.chains.push(...groupChains(g, push, ctx, known));
  }
  const out: Listener[] = [];
  // Authorization and request authentication: HTTP filters in every HCM, network filters before
  // the TCP chains' own (Istio's buildCompleteNetworkFilters on gateway TCP and TLS chains).
  const policy = policyFilters(proxy, push);
  const xffNumTrustedHops = gatewayNumTrustedProxies(proxy, push);
  const withPolicy = (c: ChainOptions): ChainOptions => (c.http || policy.network.length === 0 ? c : { ...c, networkFilters: [...policy.network, ...(c.networkFilters ?? [])] });
  for (const [name, e] of byListener) {
    if (e.chains.length === 0) continue; // Istio omits a listener with no chains ("missed network filter")
    const hcmFor = (h: HttpChainOptions): NetworkFilter =>
      httpConnectionManager({
        class: "gateway",
        statPrefix: h.statPrefix ?? `outbound_${name}`,
        rds: h.rds,
        idleTimeoutMs,
        policyFilters: policy.http,
        xffNumTrustedHops,
        telemetry: proxyTelemetry(push, proxy).http("gateway"),
      });
    const l: Listener = { name, address: socketAddress(e.bind, e.port), filterChains: e.chains.map((c) => buildFilterChain(withPolicy(c), hcmFor)) };
    if (e.chains.some(needsTlsInspector)) l.listenerFilters = [tlsInspector()];
    l.listenerFiltersTimeout = zeroDuration(); // gateways wait for the inspectors indefinitely
    l.trafficDirection = "OUTBOUND";
    out.push(l);
  }
  return out;
}
