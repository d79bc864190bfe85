// A Listener resource compiled for the listener manager, and the filter chain a connection takes.
// listenerSpec() checks a decoded Listener (the typed message, as LDS or the bootstrap gives it)
// before it is ACKed: its socket address, listener filters (by type URL, an unknown one refused),
// and each filter chain's match criteria and transport socket. What the proxy cannot honour is
// refused with its field path rather than ignored — a match criterion it skipped would hand
// connections to a chain meant for others. selectFilterChain() is Envoy's filter-chain match:
// destination port, destination IP, server name, transport protocol, application protocol, source
// IP, each narrowing to the most specific chains.
import type * as v3 from "../envoy/types.js";
import type { TcpStreamInfo } from "./stream-info.js";
import { ExtensionRegistry } from "./extensions.js";
import { type DownstreamTls, type DownstreamTlsSds, downstreamTransportSocket } from "./tls/downstream.js";
import { XdsConfigError } from "./xds-error.js";

/** A connection as the listener saw it: its addresses, and what local mode's explicit proxy learned. */
export interface ConnectionInfo {
  listenerName: string;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /**
   * Local mode's explicit proxy (no iptables): the `host:port` the client asked virtualOutbound
   * for, when no outbound listener has that port and virtualOutbound's own filter chains take the
   * connection (Envoy's original destination, for ORIGINAL_DST clusters such as PassthroughCluster).
   */
  originalDestination?: string;
  /** Set with originalDestination for a plain HTTP request (not CONNECT): the client waits for an HTTP response. */
  explicitHttp?: boolean;
  /**
   * The SNI of the TLS ClientHello the listener inspected (Envoy's requestedServerName, set by
   * tls_inspector whether or not the chain terminates TLS); undefined when there was none.
   */
  requestedServerName?: string;
  /**
   * The connection's filter state (Envoy's connection-level FilterState): network filters write it
   * (metadata exchange's "downstream_peer"); every stream on the connection sees its entries.
   */
  filterState?: Map<string, unknown>;
  /** The connection's two ends as `ip:port` (StreamInfo's direct remote and local addresses), printed once per connection. */
  printedAddresses?: { readonly remote: string; readonly local: string };
  /** The listener's traffic_direction (StreamInfo.direction; istio.stats' reporter); absent when unspecified. */
  direction?: "inbound" | "outbound";
  /**
   * Set by the filter chain when one of its read filters observes the connection's end (onLog):
   * the terminal filter hands it the connection's record (tcp_proxy), else the chain builds one.
   */
  readFilterLog?: (info: TcpStreamInfo) => void;
  /**
   * Set by the terminal filter (tcp_proxy) when read filters observe the connection: its record so
   * far, marked intermediate, for their periodic reports of a connection still open.
   */
  currentRecord?: () => TcpStreamInfo;
}

type PrefixRange = { readonly addressPrefix: string; readonly prefixLen: number };

export interface FilterChainSpec {
  name: string;
  match: {
    destinationPort?: number;
    prefixRanges: readonly PrefixRange[];
    sourcePrefixRanges: readonly PrefixRange[];
    transportProtocol?: string;
    applicationProtocols: readonly string[];
    serverNames: readonly string[];
  };
  filters: readonly v3.NetworkFilter[];
  /** TLS termination (a DownstreamTlsContext transport socket); kind "sds" when its secrets come over SDS (the listener binds them). */
  tls?: DownstreamTls | DownstreamTlsSds;
  object: v3.FilterChain;
}

export interface ListenerSpec {
  name: string;
  address: string;
  port: number;
  bindToPort: boolean;
  /** Listener.use_original_dst: in local mode, the explicit-proxy entry (virtualOutbound). */
  useOriginalDst: boolean;
  filterChains: FilterChainSpec[];
  defaultFilterChain?: FilterChainSpec;
  object: v3.Listener;
  /** The listener's access_log: a connection no filter chain takes is logged there (flag NR). */
  noFilterChainLog?: (info: ConnectionInfo) => void;
}

/** Listener.traffic_direction as StreamInfo.direction (undefined for UNSPECIFIED). */
export function listenerDirection(l: v3.Listener): "inbound" | "outbound" | undefined {
  const d = l.trafficDirection as string | number | undefined;
  return d === "INBOUND" || d === 1 ? "inbound" : d === "OUTBOUND" || d === 2 ? "outbound" : undefined;
}

/** FilterChainMatch criteria the matcher does not implement: a chain using one is refused. */
function rejectUnimplementedMatch(m: v3.FilterChainMatch, path: string): void {
  const refuse = (field: string, what: string) => new XdsConfigError(`${path}.${field}`, `${what} is not implemented by tsmesh`);
  if (m.directSourcePrefixRanges?.length) throw refuse("directSourcePrefixRanges", "matching on the direct source address");
  if (m.sourceType !== undefined && m.sourceType !== "ANY") throw refuse("sourceType", `matching on the source type (${String(m.sourceType)})`);
  if (m.sourcePorts?.length) throw refuse("sourcePorts", "matching on the source port");
  if (m.addressSuffix || m.suffixLen !== undefined) throw refuse(m.addressSuffix ? "addressSuffix" : "suffixLen", "matching on an address suffix");
}

function prefixRanges(ranges: readonly v3.CidrRange[] | undefined): PrefixRange[] {
  return (ranges ?? []).map((r) => ({ addressPrefix: r.addressPrefix ?? "", prefixLen: r.prefixLen?.value ?? 0 }));
}

function chainSpec(fc: v3.FilterChain, path: string): FilterChainSpec {
  const m = fc.filterChainMatch ?? {};
  rejectUnimplementedMatch(m, `${path}.filterChainMatch`);
  const dp = m.destinationPort;
  if (dp !== undefined && (dp.value === undefined || dp.value < 1 || dp.value > 65535)) {
    throw new XdsConfigError(`${path}.filterChainMatch.destinationPort`, `port ${dp.value ?? 0} is out of range (1-65535)`);
  }
  if (fc.useProxyProto?.value === true) throw new XdsConfigError(`${path}.useProxyProto`, "the PROXY protocol is not implemented by tsmesh");
  if (fc.onDemandConfiguration !== undefined) throw new XdsConfigError(`${path}.onDemandConfiguration`, "on-demand filter chains are not implemented by tsmesh");
  const filters = fc.filters ?? [];
  if (filters.length === 0) throw new XdsConfigError(`${path}.filters`, "a filter chain needs at least one network filter");
  return {
    tls: fc.transportSocket ? downstreamTransportSocket(fc.transportSocket, `${path}.transportSocket`) : undefined,
    name: fc.name ?? "",
    match: {
      destinationPort: dp?.value,
      prefixRanges: prefixRanges(m.prefixRanges),
      sourcePrefixRanges: prefixRanges(m.sourcePrefixRanges),
      transportProtocol: m.transportProtocol || undefined,
      applicationProtocols: m.applicationProtocols ?? [],
      serverNames: m.serverNames ?? [],
    },
    filters,
    object: fc,
  };
}

/** Listener filters the proxy implements (TLS and HTTP inspection run where filter chains need them). */
const LISTENER_FILTERS = new ExtensionRegistry<true>("listener filter").register(
  ["envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector", "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector", "envoy.extensions.filters.listener.original_dst.v3.OriginalDst"],
  true,
);

/** Checks Listener.listener_filters against the registry (an unknown one is refused). */
function checkListenerFilters(l: v3.Listener, name: string): void {
  (l.listenerFilters ?? []).forEach((f, i) => {
    const at = `listener ${name}: listenerFilters[${i}]`;
    if (f.configDiscovery !== undefined && f.typedConfig === undefined) throw new XdsConfigError(`${at}.configDiscovery`, "extension config discovery (ECDS) is not implemented by tsmesh");
    LISTENER_FILTERS.resolve(at, f.name ?? "", f.typedConfig, false, undefined);
  });
}

/** Listener fields the proxy does not implement: a listener using one is refused, never half-run. */
function rejectUnimplemented(l: v3.Listener, at: (field: string) => string): void {
  if (l.address?.socketAddress?.protocol === "UDP") throw new XdsConfigError(at("address.socketAddress.protocol"), "UDP listeners are not implemented by tsmesh");
  if (l.additionalAddresses?.length) throw new XdsConfigError(at("additionalAddresses"), "additional listener addresses are not implemented by tsmesh");
  if (l.filterChainMatcher !== undefined) throw new XdsConfigError(at("filterChainMatcher"), "the generic matcher API is not implemented by tsmesh; use filter_chain_match");
  if (l.internalListener !== undefined) throw new XdsConfigError(at("internalListener"), "internal listeners are not implemented by tsmesh");
}

/** Validates a decoded Listener. */
export function listenerSpec(l: v3.Listener): ListenerSpec {
  const name = l.name ?? "";
  if (!name) throw new XdsConfigError("name", "a listener needs a name");
  const at = (field: string) => `listener ${name}: ${field}`;
  const sa = l.address?.socketAddress;
  const api = l.apiListener;
  if (!sa && !api) throw new XdsConfigError(at("address"), "a listener needs a socket address");
  const port = sa?.portValue ?? 0;
  if (sa && port > 65535) throw new XdsConfigError(at("address.socketAddress.portValue"), `invalid port ${port}`);
  rejectUnimplemented(l, at);
  checkListenerFilters(l, name);
  return {
    name,
    address: sa?.address ?? "0.0.0.0",
    port,
    // A BoolValue present without its value is false.
    bindToPort: (l.bindToPort === undefined || l.bindToPort.value === true) && !api,
    useOriginalDst: l.useOriginalDst?.value === true,
    filterChains: (l.filterChains ?? []).map((fc, i) => chainSpec(fc, at(`filterChains[${i}]`))),
    defaultFilterChain: l.defaultFilterChain ? chainSpec(l.defaultFilterChain, at("defaultFilterChain")) : undefined,
    object: l,
  };
}

function ipv4ToInt(ip: string): number | undefined {
  const m = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  if (!m) return undefined;
  return ((+m[1] << 24) | (+m[2] << 16) | (+m[3] << 8) | +m[4]) >>> 0;
}

function inRanges(ip: string, ranges: readonly PrefixRange[]): boolean {
  if (ranges.length === 0) return true;
  const x = ipv4ToInt(ip);
  if (x === undefined) return false;
  return ranges.some((r) => {
    const base = ipv4ToInt(r.addressPrefix);
    if (base === undefined) return false;
    const mask = r.prefixLen === 0 ? 0 : (~0 << (32 - r.prefixLen)) >>> 0;
    return (x & mask) === (base & mask);
  });
}

/** What a connection offers the filter-chain match. */
export interface ChainMatchInput {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  /** "tls" with a ClientHello, else "raw_buffer" (the default). */
  transport?: string;
  alpn?: readonly string[];
  sni?: string;
}

/**
 * Envoy's filter chain selection. Each criterion narrows to the most specific chains that match
 * (an unset criterion matches anything but loses to a set one that matches); with none left, the
 * default filter chain (if any).
 */
export function selectFilterChain(l: ListenerSpec, c: ChainMatchInput): FilterChainSpec | undefined {
  let cands = l.filterChains;
  const narrow = (pred: (fc: FilterChainSpec) => "exact" | "any" | "no") => {
    const exact = cands.filter((fc) => pred(fc) === "exact");
    cands = exact.length > 0 ? exact : cands.filter((fc) => pred(fc) === "any");
  };
  narrow((fc) => (fc.match.destinationPort === undefined ? "any" : fc.match.destinationPort === c.localPort ? "exact" : "no"));
  narrow((fc) => (fc.match.prefixRanges.length === 0 ? "any" : inRanges(c.localAddress, fc.match.prefixRanges) ? "exact" : "no"));
  // Server names: exact, or a "*.example.com" wildcard (Envoy prefers exact, then the longest wildcard).
  const sniScore = (fc: FilterChainSpec): number => {
    if (!c.sni) return -1;
    let best = -1;
    for (const n of fc.match.serverNames) {
      if (n === c.sni) return Number.MAX_SAFE_INTEGER;
      if (n.startsWith("*.") && c.sni.endsWith(n.slice(1))) best = Math.max(best, n.length);
    }
    return best;
  };
  const bestSni = Math.max(-1, ...cands.map(sniScore));
  narrow((fc) => (fc.match.serverNames.length === 0 ? "any" : bestSni >= 0 && sniScore(fc) === bestSni ? "exact" : "no"));
  const transport = c.transport ?? "raw_buffer";
  narrow((fc) => (fc.match.transportProtocol === undefined ? "any" : fc.match.transportProtocol === transport ? "exact" : "no"));
  narrow((fc) =>
    fc.match.applicationProtocols.length === 0 ? "any" : (c.alpn ?? []).some((p) => fc.match.applicationProtocols.includes(p)) ? "exact" : "no",
  );
  narrow((fc) => (fc.match.sourcePrefixRanges.length === 0 ? "any" : inRanges(c.remoteAddress, fc.match.sourcePrefixRanges) ? "exact" : "no"));
  return cands[0] ?? l.defaultFilterChain;
}
