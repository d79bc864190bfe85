// Envoy's listener manager: one TCP server per bound listener (compiled by listener-spec.ts). A
// listener whose address is 0.0.0.0 binds the proxy's --ip (many proxies share one machine, one
// loopback address each). A connection is inspected as its filter chains need (tls_inspector's
// ClientHello, http_inspector's sniff, local mode's explicit-proxy request head), picks a filter
// chain (listener-spec.ts' selectFilterChain), then that chain's network filter takes the socket.
// A removed or changed listener drains: it stops accepting at once, its open connections finish
// (or are closed after the drain timeout). A listener that cannot bind is reported with Envoy's
// "cannot bind 'ADDR:PORT': <error>" and listener_manager.listener_create_failure, and that
// version is not retried until it changes (checkBind lets the proxy NACK it before the ACK).
import * as net from "node:net";
import { DEBUG, type Logger } from "../core/log.js";
import { authorityWithPort, splitAbsoluteForm } from "./http/absolute-form.js";
import { type ConnectionInfo, type FilterChainSpec, listenerDirection, type ListenerSpec, selectFilterChain } from "./listener-spec.js";
import { cannotBind, tryBind } from "./bind-error.js";
import type { Counter, StatsScope, StatsStore } from "./stats.js";
import { type DownstreamTls, terminateTls } from "./tls/downstream.js";
import { SdsBinding } from "./tls/sds-binding.js";
import { SecretManager } from "./tls/secrets.js";

/** What a filter chain's network filter does with a connection. */
export interface NetworkHandler {
  /** Takes the connection (paused, unless TLS was terminated): the handler resumes it when ready. */
  handle(socket: net.Socket, info: ConnectionInfo): void;
  /** Stop taking new work; finish in-flight requests (HTTP: Connection: close on the next response). */
  drain(): void;
  /** Ends whatever is left. */
  close(): void;
}

/** Builds the handler for a filter chain (the proxy supplies HCM and tcp_proxy). */
export type HandlerFactory = (listener: ListenerSpec, chain: FilterChainSpec, stats: StatsScope) => NetworkHandler;

interface ActiveListener {
  spec: ListenerSpec;
  server: net.Server;
  handlers: Map<FilterChainSpec, NetworkHandler>;
  /** The filter chains whose TLS secrets come over SDS, bound while this version of the listener takes connections. */
  tls: Map<FilterChainSpec, SdsBinding<DownstreamTls>>;
  sockets: Set<net.Socket>;
  stats: StatsScope;
  boundAddress: string;
}

export interface ClientHello {
  sni?: string;
  alpn: string[];
}

/**
 * Envoy's tls_inspector: the server name and ALPN protocols of a TLS ClientHello, read without
 * terminating TLS. "incomplete" asks for more bytes; undefined means it is not a ClientHello.
 */
export function parseClientHello(b: Buffer): ClientHello | "incomplete" | undefined {
  if (b.length < 5) return "incomplete";
  if (b[0] !== 0x16 || b[1] !== 0x03) return undefined;
  const recordEnd = 5 + b.readUInt16BE(3);
  if (b.length < recordEnd) return "incomplete";
  let at = 5;
  if (b[at] !== 0x01) return undefined; // handshake type ClientHello
  at += 4; // type + 24-bit length
  at += 2 + 32; // version + random
  if (at >= recordEnd) return undefined;
  at += 1 + b[at]; // session id
  if (at + 2 > recordEnd) return undefined;
  at += 2 + b.readUInt16BE(at); // cipher suites
  if (at >= recordEnd) return undefined;
  at += 1 + b[at]; // compression methods
  const out: ClientHello = { alpn: [] };
  if (at + 2 > recordEnd) return out;
  const extEnd = Math.min(recordEnd, at + 2 + b.readUInt16BE(at));
  at += 2;
  while (at + 4 <= extEnd) {
    const type = b.readUInt16BE(at);
    const len = b.readUInt16BE(at + 2);
    const data = b.subarray(at + 4, at + 4 + len);
    at += 4 + len;
    if (type === 0 && data.length >= 5) {
      // server_name list: the first host_name entry
      if (data[2] === 0) out.sni = data.subarray(5, 5 + data.readUInt16BE(3)).toString("latin1").toLowerCase();
    } else if (type === 16 && data.length >= 2) {
      let p = 2;
      while (p < data.length) {
        const n = data[p];
        out.alpn.push(data.subarray(p + 1, p + 1 + n).toString("latin1"));
        p += 1 + n;
      }
    }
  }
  return out;
}

/** Peeks at the first bytes: HTTP/1.x, HTTP/2 prior knowledge, or something else (http_inspector). */
function sniffAlpn(first: Buffer): string[] {
  if (first.subarray(0, 3).toString("latin1") === "PRI") return ["h2c"];
  if (/^[A-Z]+ \S+ HTTP\/1\.[01]\r?\n?/.test(first.subarray(0, 64).toString("latin1")) || /^[A-Z]{3,7} /.test(first.subarray(0, 8).toString("latin1"))) {
    return ["http/1.1", "http/1.0"];
  }
  return [];
}

/** Sockets already routed by virtualOutbound (so a handed-off socket is not sniffed twice). */
const handedOff = new WeakSet<net.Socket>();

/** Reads bytes until the end of the HTTP request head (bounded: 64 KiB, 10 s). */
function readRequestHead(socket: net.Socket): Promise<{ head: Buffer; rest: Buffer } | undefined> {
  return new Promise((resolve) => {
    let buf: Buffer = Buffer.alloc(0);
    const done = (v: { head: Buffer; rest: Buffer } | undefined) => {
      clearTimeout(timer);
      socket.removeListener("data", onData);
      socket.removeListener("close", onClose);
      resolve(v);
    };
    const onData = (c: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, c]) : c;
      const end = buf.indexOf("\r\n\r\n");
      if (end >= 0) done({ head: buf.subarray(0, end + 4), rest: buf.subarray(end + 4) });
      else if (buf.length > 65536) done(undefined);
    };
    const onClose = () => done(undefined);
    const timer = setTimeout(() => done(undefined), 10_000);
    timer.unref();
    socket.on("data", onData);
    socket.once("close", onClose);
  });
}

/**
 * The target of an explicit-proxy request: `GET http://host:port/…` or `CONNECT host:port`.
 * `authority` is `host:port` (the port always given).
 */
export function explicitProxyTarget(head: Buffer): { port: number; connect: boolean; authority: string } | undefined {
  const line = head.subarray(0, head.indexOf("\r\n")).toString("latin1");
  const m = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(line);
  if (!m) return undefined;
  if (m[1] === "CONNECT") {
    const p = /:(\d+)$/.exec(m[2]);
    return p ? { port: Number(p[1]), connect: true, authority: m[2] } : undefined;
  }
  if (/^https?:\/\//i.test(m[2])) {
    const t = splitAbsoluteForm(m[2]);
    return t ? { ...authorityWithPort(t.authority, t.scheme), connect: false } : undefined;
  }
  // Origin-form on the proxy port: the Host header names the target.
  const host = /\r\nhost:\s*([^\r]+)/i.exec(head.toString("latin1"))?.[1]?.trim();
  return host ? { ...authorityWithPort(host, "http"), connect: false } : undefined;
}

/**
 * The request head as the target would get it from a captured client: origin-form request line,
 * proxy headers dropped, and `connection: close`, so a keep-alive proxy connection carrying it
 * through a TCP pass-through is not reused for another destination.
 */
export function originFormHead(head: Buffer): Buffer {
  const text = head.toString("latin1");
  const eol = text.indexOf("\r\n");
  const [method, target, version] = text.slice(0, eol).split(" ");
  const path = splitAbsoluteForm(target)?.path ?? target;
  const headers = text
    .slice(eol + 2, text.length - 4)
    .split("\r\n")
    .filter((h) => h !== "" && !/^(connection|proxy-connection|keep-alive|proxy-authorization)\s*:/i.test(h));
  return Buffer.from(`${method} ${path} ${version}\r\n${[...headers, "connection: close"].join("\r\n")}\r\n\r\n`, "latin1");
}

/** What a connection offered the filter-chain match (for debug lines). */
function describeMatch(port: number, alpn: string[], hello: ClientHello | undefined): string {
  if (hello) return `port ${port}, tls, sni ${hello.sni || "-"}, alpn ${hello.alpn.join("/") || "-"}`;
  return `port ${port}, raw_buffer${alpn.length ? `, alpn ${alpn.join("/")}` : ""}`;
}

export class ListenerManager {
  private readonly active = new Map<string, ActiveListener>();
  private readonly draining = new Set<ActiveListener>();
  /** Listeners whose last bind failed, by name: the version that failed (retried only when it changes, as Envoy does). */
  private readonly failed = new Map<string, string>();
  /** Envoy's listener_manager.listener_create_success / listener_create_failure. */
  private readonly createSuccess: Counter;
  private readonly createFailure: Counter;

  constructor(
    private readonly bindIp: string | undefined,
    private readonly stats: StatsStore,
    private readonly handlerFor: HandlerFactory,
    private readonly drainMs: number,
    /** Listeners added, updated, drained, failing (Envoy's listener manager logs under `config`). */
    private readonly log: Logger,
    /** Each connection: accepted, the filter chain it takes or why it is closed. */
    private readonly connLog: Logger,
    /** The proxy's SDS secrets (filter chains over SDS watch theirs); without it they never arrive. */
    private readonly secrets: SecretManager = new SecretManager(),
  ) {
    this.createSuccess = stats.counter("listener_manager.listener_create_success");
    this.createFailure = stats.counter("listener_manager.listener_create_failure");
  }

  /** The address a listener binds: its own, or the proxy's --ip for 0.0.0.0. */
  private bindAddress(spec: ListenerSpec): string {
    return spec.address === "0.0.0.0" && this.bindIp ? this.bindIp : spec.address;
  }

  /**
   * Tries each listener's socket address before the LDS update that brings it is ACKed (Envoy
   * binds while it applies the update): the ones that cannot bind, with Envoy's message, counted
   * in listener_create_failure. Addresses a running listener holds already, unbound listeners and
   * port 0 are not tried.
   */
  async checkBind(specs: readonly ListenerSpec[]): Promise<Array<{ name: string; message: string }>> {
    const held = new Set([...this.active.values()].filter((a) => a.spec.bindToPort).map((a) => `${a.boundAddress}:${a.spec.port}`));
    const out: Array<{ name: string; message: string }> = [];
    for (const spec of specs) {
      const address = this.bindAddress(spec);
      if (!spec.bindToPort || spec.port === 0 || held.has(`${address}:${spec.port}`)) continue;
      const err = await tryBind(address, spec.port);
      if (!err) continue;
      this.createFailure.inc();
      out.push({ name: spec.name, message: cannotBind(address, spec.port, err) });
    }
    return out;
  }

  /** Binds the filter chains whose TLS secrets come over SDS to the SecretManager. */
  private bindTls(spec: ListenerSpec): Map<FilterChainSpec, SdsBinding<DownstreamTls>> {
    const out = new Map<FilterChainSpec, SdsBinding<DownstreamTls>>();
    const chains = [...spec.filterChains, ...(spec.defaultFilterChain ? [spec.defaultFilterChain] : [])];
    chains.forEach((fc, i) => {
      const t = fc.tls;
      if (t?.kind !== "sds") return;
      const what = `listener ${spec.name} filter chain ${fc.name || (fc === spec.defaultFilterChain ? "default" : i)}`;
      out.set(fc, new SdsBinding<DownstreamTls>(this.secrets, t.refs, (s, previous) => t.build(s, previous), what, (l) => this.log.error(l)));
    });
    return out;
  }

  /** Every terminating TLS context as it is now (for /certs): static ones, and SDS ones that have their secrets. */
  tlsContexts(): Array<{ listener: string; tls: DownstreamTls }> {
    const out: Array<{ listener: string; tls: DownstreamTls }> = [];
    for (const a of this.active.values()) {
      for (const fc of a.handlers.keys()) {
        const t = fc.tls?.kind === "sds" ? a.tls.get(fc)?.current : fc.tls;
        if (t) out.push({ listener: a.spec.name, tls: t });
      }
    }
    return out;
  }

  private static releaseTls(a: ActiveListener): void {
    for (const b of a.tls.values()) b.release();
  }

  /** Listeners by name with their bound address (for /listeners). */
  list(): Array<{ name: string; address: string; port: number; bound: boolean }> {
    return [...this.active.values()].map((a) => ({ name: a.spec.name, address: a.boundAddress, port: a.spec.port, bound: a.spec.bindToPort }));
  }

  specs(): ListenerSpec[] {
    return [...this.active.values()].map((a) => a.spec);
  }

  /**
   * Applies the full set of listeners: new ones bind, changed ones are replaced (the new one
   * binds first where the address allows — SO_REUSEADDR semantics do not let two servers share a
   * port here, so the old one stops accepting first), removed ones drain.
   */
  async apply(specs: readonly ListenerSpec[]): Promise<Array<{ name: string; message: string }>> {
    const errors: Array<{ name: string; message: string }> = [];
    const wanted = new Map(specs.map((s) => [s.name, s]));
    for (const [name, a] of [...this.active]) {
      const next = wanted.get(name);
      if (next && JSON.stringify(next.object) === JSON.stringify(a.spec.object)) continue;
      if (next && next.address === a.spec.address && next.port === a.spec.port && next.bindToPort === a.spec.bindToPort) {
        // Same socket address: keep accepting on the bound socket (no window where connections are
        // refused) and swap the filter chains; connections already open finish on the old ones.
        this.update(a, next);
        continue;
      }
      this.active.delete(name);
      this.drain(a);
    }
    for (const name of this.failed.keys()) if (!wanted.has(name)) this.failed.delete(name);
    for (const spec of specs) {
      if (this.active.has(spec.name)) continue;
      // The version that failed stays failed until it changes: no retry loop, no repeated error.
      const version = JSON.stringify(spec.object);
      if (this.failed.get(spec.name) === version) continue;
      try {
        await this.start(spec);
        this.failed.delete(spec.name);
      } catch (err) {
        this.failed.set(spec.name, version);
        errors.push({ name: spec.name, message: (err as Error).message });
      }
    }
    return errors;
  }

  private update(a: ActiveListener, spec: ListenerSpec): void {
    if (this.log.enabled(DEBUG)) this.log.debug(`listener '${spec.name}' updated in place on ${a.boundAddress}:${spec.port}: new filter chains take new connections, open ones finish on the old`);
    const old = [...a.handlers.values()];
    ListenerManager.releaseTls(a);
    a.spec = spec;
    a.handlers = this.handlersFor(spec, a.stats);
    a.tls = this.bindTls(spec);
    for (const h of old) h.drain();
    const timer = setTimeout(() => {
      for (const h of old) h.close();
    }, this.drainMs);
    timer.unref();
  }

  private handlersFor(spec: ListenerSpec, stats: StatsScope): Map<FilterChainSpec, NetworkHandler> {
    const handlers = new Map<FilterChainSpec, NetworkHandler>();
    for (const fc of [...spec.filterChains, ...(spec.defaultFilterChain ? [spec.defaultFilterChain] : [])]) handlers.set(fc, this.handlerFor(spec, fc, stats));
    return handlers;
  }

  private async start(spec: ListenerSpec): Promise<void> {
    const address = this.bindAddress(spec);
    const stats = this.stats.tagged("listener.", `${address}_${spec.port}`);
    const a: ActiveListener = { spec, server: net.createServer({ pauseOnConnect: true }), handlers: this.handlersFor(spec, stats), tls: this.bindTls(spec), sockets: new Set(), stats, boundAddress: address };
    const cxTotal = stats.counter("downstream_cx_total");
    const cxActive = stats.gauge("downstream_cx_active");
    const noChain = stats.counter("no_filter_chain_match");
    const connLog = this.connLog;
    a.server.on("connection", (socket: net.Socket) => {
      // The listener's current version (an in-place update swaps it).
      const spec = a.spec;
      const handlers = a.handlers;
      const sdsTls = a.tls;
      const explicitProxy = spec.useOriginalDst;
      if (connLog.level <= DEBUG) connLog.debug(`listener '${spec.name}': new connection from ${socket.remoteAddress}:${socket.remotePort}`);
      cxTotal.inc();
      cxActive.inc();
      a.sockets.add(socket);
      socket.once("close", () => {
        cxActive.dec();
        a.sockets.delete(socket);
      });
      socket.on("error", () => socket.destroy());
      const info: ConnectionInfo = {
        listenerName: spec.name,
        localAddress: socket.localAddress ?? address,
        localPort: socket.localPort ?? spec.port,
        remoteAddress: socket.remoteAddress ?? "",
        remotePort: socket.remotePort ?? 0,
      };
      const direction = listenerDirection(spec.object);
      if (direction !== undefined) info.direction = direction;
      const chainsList = [...handlers.keys()];
      const needsAlpn = chainsList.some((fc) => fc.match.applicationProtocols.length > 0);
      const needsTls = chainsList.some((fc) => fc.match.serverNames.length > 0 || fc.match.transportProtocol === "tls" || fc.tls !== undefined);
      const dispatch = (alpn: string[], tls?: ClientHello) => {
        if (tls?.sni) info.requestedServerName = tls.sni;
        const fc = selectFilterChain(spec, {
          localAddress: info.localAddress,
          localPort: info.localPort,
          remoteAddress: info.remoteAddress,
          alpn: tls ? tls.alpn : alpn,
          sni: tls?.sni,
          transport: tls ? "tls" : "raw_buffer",
        });
        const h = fc && handlers.get(fc);
        if (!h) {
          if (connLog.level <= DEBUG) connLog.debug(`listener '${spec.name}': closing connection from ${info.remoteAddress}:${info.remotePort}: no matching filter chain (${describeMatch(info.localPort, alpn, tls)})`);
          noChain.inc();
          spec.noFilterChainLog?.(info);
          socket.destroy();
          return;
        }
        // A context over SDS: the one its current secrets made (looked up per connection).
        const t = fc.tls?.kind === "sds" ? sdsTls.get(fc)?.current : fc.tls;
        if (fc.tls !== undefined && t === undefined) {
          // Envoy's NotReadySslSocket: no handshake until the secrets are here, never plaintext.
          if (connLog.level <= DEBUG) connLog.debug(`listener '${spec.name}': closing connection from ${info.remoteAddress}:${info.remotePort}: filter chain '${fc.name}' waits for its SDS secrets`);
          a.stats.counter("ssl.downstream_context_secrets_not_ready").inc();
          socket.destroy();
          return;
        }
        if (connLog.level <= DEBUG) connLog.debug(`listener '${spec.name}': connection from ${info.remoteAddress}:${info.remotePort} takes filter chain '${fc.name}' (${describeMatch(info.localPort, alpn, tls)})`);
        if (t) {
          // No resume of the raw socket: its buffered ClientHello would flow past the TLS layer.
          terminateTls(socket, t, a.stats, (secure) => h.handle(secure, info), tls?.alpn);
          return;
        }
        // The handler starts reading when it is ready (a read filter may hold the connection first).
        h.handle(socket, info);
      };
      if (explicitProxy && !handedOff.has(socket)) {
        // Local mode's capture: the app's HTTP_PROXY points here. Read the request head, find the
        // target port (absolute-form URL or CONNECT authority), and hand the connection to that
        // port's outbound listener, as use_original_dst does with a captured destination. With no
        // listener on that port, virtualOutbound's own filter chains take it, as in Envoy (the
        // catch-all: PassthroughCluster to the target, or BlackHoleCluster under REGISTRY_ONLY).
        socket.resume();
        void readRequestHead(socket).then((head) => {
          socket.pause();
          const target = head ? explicitProxyTarget(head.head) : undefined;
          if (!head || !target) {
            noChain.inc();
            spec.noFilterChainLog?.(info);
            socket.destroy();
            return;
          }
          const listener = this.listenerForPort(target.port);
          if (target.connect) {
            socket.write("HTTP/1.1 200 Connection established\r\n\r\n");
            if (head.rest.length) socket.unshift(head.rest);
          } else socket.unshift(Buffer.concat([listener ? head.head : originFormHead(head.head), head.rest]));
          if (listener) {
            if (connLog.level <= DEBUG) connLog.debug(`listener '${spec.name}': ${target.connect ? "CONNECT" : "request"} for ${target.authority} handed to listener '${listener.spec.name}'`);
            handedOff.add(socket);
            listener.server.emit("connection", socket);
            return;
          }
          info.localPort = target.port;
          info.originalDestination = target.authority;
          info.explicitHttp = !target.connect;
          dispatch([]);
        });
        return;
      }
      if (!needsAlpn && !needsTls) return dispatch([]);
      // tls_inspector / http_inspector: read the first bytes (a whole ClientHello for TLS), then
      // put them back for the handler.
      socket.resume();
      let seen: Buffer = Buffer.alloc(0);
      const onFirst = (chunk: Buffer) => {
        seen = seen.length ? Buffer.concat([seen, chunk]) : chunk;
        const hello = seen[0] === 0x16 ? parseClientHello(seen) : undefined;
        if (hello === "incomplete" && seen.length < 16384) return;
        socket.removeListener("data", onFirst);
        socket.pause();
        socket.unshift(seen);
        if (hello && hello !== "incomplete") dispatch([], hello);
        else dispatch(sniffAlpn(seen));
      };
      socket.on("data", onFirst);
    });
    if (!spec.bindToPort) {
      this.active.set(spec.name, a);
      if (this.log.enabled(DEBUG)) this.log.debug(`listener '${spec.name}' added (port ${spec.port}, not bound: takes connections handed over by virtualOutbound)`);
      return;
    }
    try {
      await new Promise<void>((resolve, reject) => {
        a.server.once("error", reject);
        // Not exclusive: under --concurrency, worker processes share the listening socket (node:cluster).
        a.server.listen({ host: address, port: spec.port }, () => {
          a.server.removeListener("error", reject);
          resolve();
        });
      });
    } catch (err) {
      ListenerManager.releaseTls(a);
      for (const h of a.handlers.values()) h.close();
      const shared = [...this.active.values(), ...this.draining].some((o) => o.boundAddress === address && o.spec.port === spec.port);
      if (!shared) this.stats.removePrefix(`listener.${address}_${spec.port}.`);
      this.createFailure.inc();
      throw new Error(cannotBind(address, spec.port, err));
    }
    this.createSuccess.inc();
    a.server.on("error", (err) => this.log.error(`listener '${spec.name}': ${err.message}`));
    this.active.set(spec.name, a);
    if (this.log.enabled(DEBUG)) this.log.debug(`listener '${spec.name}' added, listening on ${address}:${spec.port} (${a.handlers.size} filter chain(s))`);
  }

  /** The outbound listener a connection that arrived on virtualOutbound hands off to: its target port's. */
  private listenerForPort(port: number): ActiveListener | undefined {
    let target = this.active.get(`0.0.0.0_${port}`);
    if (!target) for (const a of this.active.values()) if (a.spec.port === port && !a.spec.bindToPort) target = a;
    return target;
  }

  private drain(a: ActiveListener): void {
    if (this.log.enabled(DEBUG)) this.log.debug(`draining listener '${a.spec.name}' on ${a.boundAddress}:${a.spec.port}: ${a.sockets.size} open connection(s), closed after ${this.drainMs} ms at the latest`);
    this.draining.add(a);
    a.server.close();
    ListenerManager.releaseTls(a);
    for (const h of a.handlers.values()) h.drain();
    const done = () => {
      for (const h of a.handlers.values()) h.close();
      for (const s of a.sockets) s.destroy();
      this.draining.delete(a);
      this.stats.removePrefix(`listener.${a.boundAddress}_${a.spec.port}.`);
    };
    if (a.sockets.size === 0) return done();
    const timer = setTimeout(done, this.drainMs);
    timer.unref();
    const check = () => {
      if (a.sockets.size === 0) {
        clearTimeout(timer);
        done();
      }
    };
    for (const s of a.sockets) s.once("close", () => setImmediate(check));
  }

  /** Drains every listener (admin /drain_listeners, shutdown). */
  drainAll(): void {
    for (const a of this.active.values()) this.drain(a);
    this.active.clear();
  }

  async close(): Promise<void> {
    for (const a of [...this.active.values(), ...this.draining]) {
      a.server.close();
      ListenerManager.releaseTls(a);
      for (const h of a.handlers.values()) h.close();
      for (const s of a.sockets) s.destroy();
    }
    this.active.clear();
    this.draining.clear();
  }
}
