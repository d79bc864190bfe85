// Envoy's network filters: a filter chain's `filters`, found by type URL in a registry and run in
// order on each connection the chain takes. Read filters before the terminal one (network RBAC,
// ext_authz…) see the new connection and may close it or hold it until they decide; the terminal
// filter (http_connection_manager, tcp_proxy) then owns the socket.
import type { TraceDrivers } from "./tracing/tracing-config.js";
import type { TcpStreamInfo } from "./stream-info.js";
import type * as net from "node:net";
import type { Any, NetworkFilter, RouteConfiguration } from "../envoy/types.js";
import { anyType, ExtensionRegistry, type SkipReporter, typeName } from "./extensions.js";
import type { FilterRuntime } from "./http/filter.js";
import type { RouteTable } from "./http/route-table.js";
import type { AccessLogger, AccessLogWriters } from "./access-loggers.js";
import type { ConnectionInfo } from "./listener-spec.js";
import type { NetworkHandler } from "./listeners.js";
import type { StatsStore } from "./stats.js";
import { XdsConfigError } from "./xds-error.js";
import { DynamicMetadata } from "./dynamic-metadata.js";
import { connectionStreamInfo, downstreamTlsOf } from "./observability/stream-info-build.js";

/** What a non-terminal filter answers for a new connection. */
export const enum NetworkFilterStatus {
  Continue = 0,
  /** Hold the connection (no bytes flow) until the filter calls `continueReading` or `close`. */
  StopIteration = 1,
}

/** What a read filter can do with the connection it inspects. */
export interface ReadFilterCallbacks {
  readonly connection: ConnectionInfo;
  /** The downstream socket: a tls.TLSSocket when the filter chain terminated TLS (peer certificate, SNI). */
  readonly socket: net.Socket;
  /** The connection's dynamic metadata (network RBAC's shadow result, …). */
  readonly dynamicMetadata: DynamicMetadata;
  /** Resumes the chain after StopIteration. */
  continueReading(): void;
  /** Closes the connection (a denied or failed check). */
  close(): void;
}

/** One non-terminal filter instance on one connection. */
export interface ReadFilter {
  onNewConnection(cb: ReadFilterCallbacks): NetworkFilterStatus;
  /** The connection is gone: stop calls in flight. */
  onDestroy?(): void;
  /** Envoy's AccessLog::Instance on a network filter (istio.stats' TCP metrics): the finished connection. */
  onLog?(info: TcpStreamInfo): void;
}

/** A compiled network filter: a read filter per connection, or the terminal handler. */
export type CompiledNetworkFilter =
  | { readonly terminal: false; readonly name: string; create(): ReadFilter }
  | {
      readonly terminal: true;
      readonly name: string;
      /** The connection handler (one per filter chain, many connections). */
      handler(): NetworkHandler;
      /** RDS route configurations it needs (listener warming). */
      readonly rdsNames: readonly string[];
    };

/** What a network filter's config is compiled with. */
export interface NetworkFilterContext {
  readonly path: string;
  readonly name: string;
  readonly listenerName: string;
  /** Listener.per_connection_buffer_limit_bytes. */
  readonly bufferLimitBytes: number;
  /** Listener.traffic_direction (tracing's ingress / egress). */
  readonly trafficDirection?: string;
  readonly stats: StatsStore;
  readonly runtime: FilterRuntime & {
    routes(name: string): RouteTable | undefined;
    /** The proxy's default access log (--access-log), for filters whose config names none. */
    readonly defaultAccessLog: AccessLogger | undefined;
    /** Writers by destination, shared by every configured access log. */
    readonly accessLogWriters: AccessLogWriters;
    compileRoutes(rc: RouteConfiguration): RouteTable;
    /** Where a stream that failed with an exception is reported. */
    streamError?(err: unknown): void;
    /** The proxy's tracers (HCM tracing providers). */
    readonly tracers?: TraceDrivers;
  };
  readonly skips?: SkipReporter;
}

export interface NetworkFilterExtension {
  readonly terminal: boolean;
  /** `config` is the filter's typed_config, of a type it was registered for (decoded). */
  compile(config: Any, ctx: NetworkFilterContext): CompiledNetworkFilter;
}

/** The network filters the proxy implements, by config type URL. */
export const NETWORK_FILTERS = new ExtensionRegistry<NetworkFilterExtension>("network filter");

/**
 * A filter chain's `filters` through the registry, in order; as Envoy, the terminal filter must be
 * last and the chain must end with one.
 */
export function compileNetworkFilters(filters: readonly NetworkFilter[], path: string, ctx: Omit<NetworkFilterContext, "path" | "name">): CompiledNetworkFilter[] {
  if (filters.length === 0) throw new XdsConfigError(`${path}.filters`, "a filter chain needs at least one network filter");
  const out: CompiledNetworkFilter[] = [];
  filters.forEach((f, i) => {
    const at = `${path}.filters[${i}]`;
    const name = f.name ?? "";
    if (f.configDiscovery !== undefined && f.typedConfig === undefined) throw new XdsConfigError(`${at}.configDiscovery`, `filter '${name}': extension config discovery (ECDS) is not implemented by tsmesh`);
    // (Network filters have no is_optional: an unknown one is always an error.)
    const ext = NETWORK_FILTERS.resolve(at, name, f.typedConfig, false, ctx.skips)!;
    const last = i === filters.length - 1;
    if (ext.terminal && !last) throw new XdsConfigError(at, `Error: terminal filter named ${name} of type ${typeName(anyType(f.typedConfig))} must be the last filter in a network filter chain.`);
    if (!ext.terminal && last) throw new XdsConfigError(at, `Error: non-terminal filter named ${name} of type ${typeName(anyType(f.typedConfig))} is the last filter in a network filter chain.`);
    out.push(ext.compile(f.typedConfig!, { ...ctx, path: `${at}.typedConfig`, name }));
  });
  return out;
}

/**
 * The connection handler of a compiled chain: the read filters in order (each may hold or close
 * the connection), then the terminal filter's handler.
 */
export function chainHandler(filters: readonly CompiledNetworkFilter[]): NetworkHandler {
  const terminal = filters[filters.length - 1];
  if (!terminal.terminal) throw new Error("network filter chain without a terminal filter");
  const handler = terminal.handler();
  const readers = filters.slice(0, -1).filter((f): f is Extract<CompiledNetworkFilter, { terminal: false }> => !f.terminal);
  if (readers.length === 0) return handler;
  return {
    handle(socket: net.Socket, info: ConnectionInfo): void {
      // No bytes flow until every read filter let the connection through. A socket nobody reads
      // yet stays that way (no pause/resume: a resume here would set it flowing before the
      // terminal filter reads it — tcp_proxy pipes only once its upstream connects — and bytes
      // would be lost); one already flowing is paused and resumed for the terminal filter.
      const wasFlowing = socket.readableFlowing === true;
      if (wasFlowing) socket.pause();
      const instances = readers.map((r) => r.create());
      const dynamicMetadata = new DynamicMetadata();
      let closed = false;
      let destroyed = false;
      const start = Date.now();
      // Read filters observing the end (istio.stats): the terminal filter's record, else the chain's.
      let logged = true;
      if (instances.some((f) => f.onLog !== undefined)) {
        logged = false;
        // A closed TLS socket no longer shows its certificates: the record's TLS side is read now.
        downstreamTlsOf(socket, info);
        info = {
          ...info,
          readFilterLog: (record) => {
            if (logged || destroyed) return;
            logged = true;
            for (const f of instances) {
              try {
                f.onLog?.(record);
              } catch {
                // an observer never breaks the connection's end
              }
            }
          },
        };
      }
      const destroy = () => {
        if (!logged) info.readFilterLog!({ ...connectionStreamInfo(info, socket, start, 0), dynamicMetadata });
        destroyed = true;
        for (const f of instances) f.onDestroy?.();
      };
      socket.once("close", () => {
        closed = true;
        // After the terminal filter's own close handling (tcp_proxy logs there): onLog before onDestroy.
        queueMicrotask(destroy);
      });
      const run = (from: number): void => {
        for (let i = from; i < instances.length; i++) {
          if (closed) return;
          let resumed = false;
          const st = instances[i].onNewConnection({
            connection: info,
            socket,
            dynamicMetadata,
            continueReading: () => {
              if (resumed || closed) return;
              resumed = true;
              run(i + 1);
            },
            close: () => {
              if (closed) return;
              closed = true;
              socket.destroy();
            },
          });
          if (st === NetworkFilterStatus.StopIteration || closed) return;
          resumed = true;
        }
        if (closed) return;
        // The terminal handler resumes reading when it is ready (tcp_proxy once its upstream is
        // connected): resuming here would let bytes a TLS socket already decrypted flow past it.
        handler.handle(socket, info);
        if (wasFlowing) socket.resume();
      };
      run(0);
    },
    drain: () => handler.drain(),
    close: () => handler.close(),
  };
}
