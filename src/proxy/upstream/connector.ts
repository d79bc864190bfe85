// The one way the proxy opens a connection to an upstream host, shared by the HTTP/1.1 pool, the
// HTTP/2 pool and tcp_proxy: plain TCP or TLS (the host's transport socket: the cluster's, or the
// first transport_socket_matches entry its endpoint metadata matches), SNI and ALPN, the
// cluster's connect_timeout (TCP connect and TLS handshake together), the failure reason Envoy
// reports (`delayed connect error: 111`, `… timeout`, `TLS_error:|…`), and the accounting every
// connection gets: upstream_cx_total / upstream_cx_active / upstream_cx_http1|2_total, the
// max_connections resource, upstream_cx_connect_fail / _timeout, ssl.*, and the host's
// activeConnections and cx_total.
import * as net from "node:net";
import * as tls from "node:tls";
import { tlsFailureReason } from "../tls/common.js";
import { peerPinFailure, sdsFailureReason, sniFor, tlsPoolKey, type UpstreamTlsConfig, upstreamConnectOptions, type UpstreamConnectOptions } from "../tls/upstream.js";
import type { UpstreamCluster } from "./cluster.js";
import { hostStats } from "./cluster-stats.js";
import type { Host } from "./host.js";
import { exchangeApplies, runExchange } from "../observability/tcp-metadata-exchange.js";
import { UPSTREAM_PEER } from "../observability/peer-metadata.js";

/** Why a connection could not be made (the router's UF details, tcp_proxy's close). */
export interface ConnectFailure {
  /** The socket error code ("ECONNREFUSED", …), "timeout", or "ETLSUNAVAILABLE" (secrets missing). */
  readonly code: string | undefined;
  /** Envoy's transport failure reason. */
  readonly reason: string;
  /** TCP was up but TLS was not (or could not start): a TLS failure, not a refused connect. */
  readonly transport: boolean;
}

/** What the connection's user hears until it is connected. */
export interface ConnectOwner {
  connected(): void;
  /** No connection (before `connected`); the socket is closed. */
  failed(f: ConnectFailure): void;
}

export interface ConnectOptions {
  /** The request's authority, for auto_sni and auto_sni_san_validation. */
  authority?: string;
  /** ALPN offered when the TLS context configures none (Envoy's pools: `http/1.1`, `h2`). */
  fallbackAlpn?: readonly string[];
  /** What the connection carries (the protocol counters). */
  protocol: "http1" | "http2" | "tcp";
  /** Reads into caller-supplied buffers (node's `onread`, the HTTP/1.1 pool's fast path). */
  onread?: net.OnReadOpts;
}

/** Envoy's transport failure reason for a TCP connect error. */
export function connectFailureReason(code: string | undefined): string {
  return `delayed connect error: ${code === "ECONNREFUSED" ? 111 : code}`;
}

/** One upstream connection, from connect to close. */
export class UpstreamConnection {
  readonly socket: net.Socket;
  /** What it can be reused for (TLS: per SNI and SAN host); undefined when all are alike. */
  readonly poolKey: string | undefined;
  /** TCP (and TLS) are up, and the metadata exchange (when the cluster has one) is done. */
  connected = false;
  /**
   * The upstream connection's filter state (Envoy's upstream filter state): the metadata exchange's
   * "upstream_peer". Made when something is written.
   */
  filterState: Map<string, unknown> | undefined = undefined;
  private tcpUp = false;
  private failure: ConnectFailure | undefined = undefined;
  private timer: NodeJS.Timeout | undefined;
  private owner: ConnectOwner | undefined;

  constructor(
    private readonly cluster: UpstreamCluster,
    readonly host: Host,
    t: UpstreamTlsConfig | undefined,
    opts: ConnectOptions,
    owner: ConnectOwner,
  ) {
    this.owner = owner;
    this.readsInto = opts.onread !== undefined;
    let socket: net.Socket;
    if (t === undefined) {
      const o: net.NetConnectOpts & { onread?: net.OnReadOpts } = { host: host.address, port: host.port, noDelay: true };
      if (opts.onread !== undefined) o.onread = opts.onread;
      socket = net.connect(o);
      socket.once("connect", () => this.up());
      this.poolKey = undefined;
    } else {
      const sni = sniFor(t, opts.authority);
      this.poolKey = tlsPoolKey(t, sni, opts.authority);
      const o: UpstreamConnectOptions = upstreamConnectOptions(t, host.address, host.port, sni, opts.authority, opts.fallbackAlpn);
      if (opts.onread !== undefined) o.onread = opts.onread;
      // Resumption (Envoy's max_session_keys): an abbreviated handshake to a server seen before.
      const sessionKey = this.poolKey ?? sni ?? "";
      const session = t.sessions.get(sessionKey);
      if (session !== undefined) o.session = session;
      const s = tls.connect(o);
      if (t.sessions.max > 0) s.on("session", (sess: Buffer) => t.sessions.set(sessionKey, sess));
      s.setNoDelay(true);
      s.once("connect", () => (this.tcpUp = true));
      s.once("secureConnect", () => {
        const pinFailed = peerPinFailure(t, s);
        if (pinFailed !== undefined) {
          t.sessions.forget(sessionKey);
          s.destroy(pinFailed);
          return;
        }
        if (s.isSessionReused()) cluster.tlsStats?.sessionReused.inc();
        else if (session !== undefined) t.sessions.forget(sessionKey);
        cluster.tlsStats?.handshake.inc();
        this.up();
      });
      socket = s;
    }
    this.socket = socket;
    const stats = cluster.stats;
    cluster.connectionOpened(host);
    host.activeConnections++;
    if (opts.protocol === "http1") stats.cxHttp1Total.inc();
    else if (opts.protocol === "http2") stats.cxHttp2Total.inc();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.connected) return;
      stats.cxConnectTimeout.inc();
      this.failure = { code: "timeout", reason: connectFailureReason("timeout"), transport: false };
      socket.destroy();
    }, cluster.spec.connectTimeoutMs);
    socket.on("error", (e: NodeJS.ErrnoException) => {
      if (this.connected || this.failure !== undefined) return;
      this.failure = this.tcpUp
        ? { code: e.code, reason: tlsFailureReason(e, cluster.tlsStats), transport: true }
        : { code: e.code, reason: connectFailureReason(e.code), transport: false };
    });
    socket.once("close", () => this.onClose());
  }

  /**
   * TCP and TLS are up: a cluster's metadata exchange runs first when the handshake negotiated its
   * ALPN (within what is left of connect_timeout, whose timer still runs); a peer whose exchange
   * must close the connection (oversized, ended early) fails the connect.
   */
  private up(): void {
    const mx = this.cluster.metadataExchange;
    if (mx !== undefined && !this.exchanged && exchangeApplies(this.socket, mx.config)) {
      this.exchanged = true;
      if (this.readsInto) {
        // A pooled HTTP/1.1 connection reads through onread, where the exchange cannot take its bytes first.
        this.failure = { code: undefined, reason: "metadata exchange on a pooled HTTP/1.1 connection is not implemented by tsmesh", transport: true };
        this.socket.destroy();
        return;
      }
      runExchange(this.socket, mx.local, mx.config, undefined, (o) => {
        if (o.kind === "close") {
          this.failure = { code: undefined, reason: o.reason, transport: true };
          this.socket.destroy();
          return;
        }
        if (o.peer !== undefined) (this.filterState ??= new Map()).set(UPSTREAM_PEER, o.peer);
        this.ready();
      });
      return;
    }
    this.ready();
  }

  private exchanged = false;
  /** Opened with `onread` (reads into the caller's buffers, no 'data' events). */
  private readonly readsInto: boolean;

  private ready(): void {
    this.connected = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const o = this.owner;
    this.owner = undefined;
    o?.connected();
  }

  private onClose(): void {
    clearTimeout(this.timer);
    this.cluster.connectionClosed();
    this.host.activeConnections--;
    if (this.connected) return;
    // Never connected: a connect failure (the peer closed during the handshake counts too).
    this.cluster.stats.cxConnectFail.inc();
    hostStats(this.host).cxConnectFail++;
    const f = this.failure ?? (this.tcpUp ? { code: undefined, reason: tlsFailureReason(undefined, this.cluster.tlsStats), transport: true } : { code: undefined, reason: connectFailureReason("ECONNRESET"), transport: false });
    const o = this.owner;
    this.owner = undefined;
    o?.failed(f);
  }

  /** The user leaves before the connection is up (no callback follows). */
  abandon(): void {
    this.owner = undefined;
    this.socket.destroy();
  }
}

/**
 * Opens a connection to `host` of `cluster` with the host's transport socket. A host whose TLS
 * secrets are missing (SDS) gets no connection at all — never plaintext in its place: the
 * failure is returned at once.
 */
export function connectUpstream(cluster: UpstreamCluster, host: Host, opts: ConnectOptions, owner: ConnectOwner): UpstreamConnection | ConnectFailure {
  const t = cluster.tlsFor(host);
  if (t?.kind === "sds") {
    cluster.tlsUnavailable(t);
    cluster.tlsStats?.upstreamSecretsNotReady.inc();
    cluster.stats.cxConnectFail.inc();
    hostStats(host).cxConnectFail++;
    return { code: "ETLSUNAVAILABLE", reason: sdsFailureReason(t), transport: true };
  }
  return new UpstreamConnection(cluster, host, t, opts, owner);
}

/** The pool key a request to `authority` on `host` would use (TLS per SNI / SAN host), without connecting. */
export function poolKeyFor(cluster: UpstreamCluster, host: Host, authority: string | undefined): string | undefined {
  const t = cluster.tlsFor(host);
  if (t?.kind !== "tls") return undefined;
  return tlsPoolKey(t, sniFor(t, authority), authority);
}
