// `tsmesh tap`'s in-proxy half (Linkerd's tap, which Istio lacks): each finished stream becomes a
// compact tap event, filtered per tapper and queued in that tapper's bounded ring buffer until its
// connection can take it. The hub registers its StreamSink only while a tapper is connected, so a
// proxy nobody taps builds, filters and buffers nothing. Events hold only bounded strings (a hostile
// client's 60 KB path is cut), so a tapper's memory is bounded by its ring's size.
import { formatFlags } from "../access-log.js";
import type { HttpStreamInfo, PeerMetadata, StreamInfo, TcpStreamInfo } from "../stream-info.js";
import type { Counter, Gauge, StatsStore } from "../stats.js";
import type { StreamSink, StreamSinks } from "../stream-sinks.js";

/** Longest string an event keeps (path, authority, names); longer ones are cut and end with "…". */
export const TAP_MAX_STRING = 512;

/** One side of a tapped stream. Identity fields are "" when unknown (no mTLS, no peer metadata). */
export interface TapPeer {
  /** "ip:port" (the downstream's trusted address; the upstream host). */
  address: string;
  /** The SPIFFE id the TLS peer presented. */
  principal: string;
  /** From metadata exchange (downstream_peer / upstream_peer): the workload and its namespace. */
  workload: string;
  namespace: string;
}

/** A finished HTTP stream or TCP connection, as a tapper sees it (one NDJSON line). */
export interface TapEvent {
  type: "http" | "tcp";
  /** The hub's sequence number (per proxy process that serves admin). */
  id: number;
  /** Start of the stream, ISO 8601. */
  time: string;
  /** "inbound", "outbound" or "" (the listener's traffic direction). */
  direction: string;
  listener: string;
  src: TapPeer;
  /** The upstream host and its identity; authority is :authority (HTTP) or the SNI (TCP). */
  dst: TapPeer & { authority: string; cluster: string };
  /** Whether the downstream connection used TLS. */
  tls: boolean;
  protocol: string;
  method: string;
  path: string;
  /** 0 when no response was sent (HTTP) and always for TCP. */
  status: number;
  grpcStatus: number | null;
  latencyMs: number;
  bytesReceived: number;
  bytesSent: number;
  /** Envoy's response flags ("-" when none). */
  flags: string;
  route: string;
  /** Envoy's response code details (HTTP) or connection termination details (TCP). */
  details: string;
}

/** An event before the hub numbers it (what a --concurrency worker sends its primary). */
export type TapRecord = Omit<TapEvent, "id">;

function cut(s: string): string {
  return s.length <= TAP_MAX_STRING ? s : s.slice(0, TAP_MAX_STRING - 1) + "…";
}

function peerOf(state: ReadonlyMap<string, unknown>, key: string): PeerMetadata | undefined {
  const p = state.get(key);
  return p !== null && typeof p === "object" ? (p as PeerMetadata) : undefined;
}

function headerString(v: unknown): string {
  return typeof v === "string" ? v : Array.isArray(v) && typeof v[0] === "string" ? v[0] : "";
}

/** The tap event of a finished stream. */
export function tapRecord(info: StreamInfo): TapRecord {
  const down = peerOf(info.filterState, "downstream_peer");
  const up = peerOf(info.filterState, "upstream_peer");
  const http: HttpStreamInfo | undefined = info.kind === "http" ? info : undefined;
  const tcp: TcpStreamInfo | undefined = info.kind === "tcp" ? info : undefined;
  return {
    type: info.kind,
    time: new Date(info.startTime).toISOString(),
    direction: info.direction,
    listener: cut(info.listenerName),
    src: {
      address: info.downstreamRemoteAddress,
      principal: cut(info.downstreamTls?.peerPrincipal || down?.identity || ""),
      workload: cut(down?.workload ?? ""),
      namespace: cut(down?.namespace ?? ""),
    },
    dst: {
      authority: cut(http ? http.authority : (info.downstreamTls?.sni ?? "")),
      cluster: cut(info.upstreamCluster),
      address: info.upstreamHost,
      principal: cut(info.upstreamTls?.peerPrincipal || up?.identity || ""),
      workload: cut(up?.workload ?? ""),
      namespace: cut(up?.namespace ?? ""),
    },
    tls: info.downstreamTls !== undefined,
    protocol: http ? http.protocol : "tcp",
    method: http ? cut(http.method) : "",
    // What the client asked for: the path before any rewrite, as Envoy's access log prints it.
    path: http ? cut(headerString(http.requestHeaders["x-envoy-original-path"]) || http.path) : "",
    status: http ? http.responseCode : 0,
    grpcStatus: http?.grpcStatus ?? null,
    latencyMs: info.durationMs,
    bytesReceived: info.bytesReceived,
    bytesSent: info.bytesSent,
    flags: formatFlags(info.flags),
    route: http ? cut(http.routeName) : "",
    details: cut(http ? http.responseCodeDetails : (tcp?.connectionTerminationDetails ?? "")),
  };
}

/** What a tapper asked to see (every field optional; all given must match). */
export interface TapFilter {
  /** :path starts with this. */
  pathPrefix?: string;
  /** :method, exactly (upper case). */
  method?: string;
  /** :authority (or a TCP connection's SNI), case-insensitively. */
  authority?: string;
  /** A status class 1..5 (2xx …) or an exact status code. */
  statusClass?: number;
  status?: number;
}

/** The query parameters the tap endpoint takes; any other is refused. */
export const TAP_QUERY_PARAMS = ["path", "method", "authority", "status"] as const;

/** A tapper's filter from its query string, or why it is refused. */
export function parseTapFilter(q: URLSearchParams): TapFilter | string {
  const f: TapFilter = {};
  for (const key of new Set(q.keys())) {
    if (!(TAP_QUERY_PARAMS as readonly string[]).includes(key)) return `unknown parameter ${JSON.stringify(key)} (tap takes ${TAP_QUERY_PARAMS.join(", ")})`;
    if (q.getAll(key).length > 1) return `parameter ${JSON.stringify(key)} given more than once`;
  }
  const path = q.get("path");
  if (path !== null) {
    if (!path.startsWith("/") || path.length > TAP_MAX_STRING) return `path ${JSON.stringify(path.slice(0, 64))}: a prefix starting with "/" (at most ${TAP_MAX_STRING} characters)`;
    f.pathPrefix = path;
  }
  const method = q.get("method");
  if (method !== null) {
    // An HTTP token (RFC 9110), as the codecs accept methods.
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/.test(method)) return `method ${JSON.stringify(method.slice(0, 64))}: not an HTTP method`;
    f.method = method.toUpperCase();
  }
  const authority = q.get("authority");
  if (authority !== null) {
    if (authority === "" || authority.length > TAP_MAX_STRING) return `authority: 1..${TAP_MAX_STRING} characters`;
    f.authority = authority.toLowerCase();
  }
  const status = q.get("status");
  if (status !== null) {
    const cls = /^([1-5])xx$/i.exec(status);
    if (cls) f.statusClass = Number(cls[1]);
    else if (/^[1-5]\d\d$/.test(status)) f.status = Number(status);
    else return `status ${JSON.stringify(status.slice(0, 64))}: a class (2xx, 5xx, …) or a code (100..599)`;
  }
  return f;
}

/** Whether an event passes a filter. A TCP event never matches a path, method or status filter. */
export function tapMatches(f: TapFilter, e: TapRecord): boolean {
  if (f.pathPrefix !== undefined && (e.type !== "http" || !e.path.startsWith(f.pathPrefix))) return false;
  if (f.method !== undefined && e.method !== f.method) return false;
  if (f.authority !== undefined && e.dst.authority.toLowerCase() !== f.authority) return false;
  if (f.status !== undefined && e.status !== f.status) return false;
  if (f.statusClass !== undefined && Math.floor(e.status / 100) !== f.statusClass) return false;
  return true;
}

/** A fixed-size queue that drops its oldest entry when full and counts what it dropped. */
export class TapRing<T> {
  private readonly items: (T | undefined)[];
  private head = 0;
  private count = 0;
  private droppedSinceTake = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`tap ring capacity must be a positive integer, got ${capacity}`);
    this.items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === this.capacity) {
      // Full: the oldest goes.
      this.items[this.head] = item;
      this.head = (this.head + 1) % this.capacity;
      this.droppedSinceTake++;
      return;
    }
    this.items[(this.head + this.count) % this.capacity] = item;
    this.count++;
  }

  /** Counts entries dropped elsewhere (before they reached this ring) as this ring's drops. */
  addDropped(n: number): void {
    this.droppedSinceTake += n;
  }

  /** Everything queued, oldest first, and how many were dropped since the last take. */
  take(): { items: T[]; dropped: number } {
    const items: T[] = [];
    for (let i = 0; i < this.count; i++) {
      const k = (this.head + i) % this.capacity;
      items.push(this.items[k] as T);
      this.items[k] = undefined;
    }
    const dropped = this.droppedSinceTake;
    this.head = 0;
    this.count = 0;
    this.droppedSinceTake = 0;
    return { items, dropped };
  }
}

/** Where a tapper's events go: the admin endpoint's stream. */
export interface TapTapper {
  readonly filter: TapFilter;
  readonly ring: TapRing<TapEvent>;
  /** Called after each event (or drop) queued in the ring: the stream schedules a write. */
  wake(): void;
}

export interface TapHubOptions {
  /** Most tappers connected at once (default 4). */
  maxTappers?: number;
  /** Events a tapper's ring holds (default 1000). */
  bufferEvents?: number;
  /** A session ends after this long (default 30 minutes). */
  maxSessionMs?: number;
  /** Called when tapping starts (first tapper) and stops (last one gone): --concurrency workers follow it. */
  onActive?: (active: boolean) => void;
  /** Where the hub counts: gauge tap.tappers, counters tap.events_tapped and tap.events_dropped. */
  stats?: StatsStore;
}

export const TAP_DEFAULTS = { maxTappers: 4, bufferEvents: 1000, maxSessionMs: 30 * 60_000 } as const;

/** The proxy's tappers, and the one StreamSink that feeds them while there are any. */
export class TapHub {
  private readonly tappers = new Set<TapTapper>();
  private unregister: (() => void) | undefined;
  private nextId = 0;
  private readonly tappersGauge: Gauge | undefined;
  /** Events queued for tappers (one per tapper an event matched), and those lost to a full ring. */
  private readonly tapped: Counter | undefined;
  private readonly dropped: Counter | undefined;
  readonly maxTappers: number;
  readonly bufferEvents: number;
  readonly maxSessionMs: number;
  private readonly sink: StreamSink = {
    onHttpStream: (info) => this.publish(tapRecord(info)),
    onTcpConnection: (info) => this.publish(tapRecord(info)),
  };

  constructor(
    private readonly sinks: StreamSinks,
    private readonly options: TapHubOptions = {},
  ) {
    this.maxTappers = options.maxTappers ?? TAP_DEFAULTS.maxTappers;
    this.bufferEvents = options.bufferEvents ?? TAP_DEFAULTS.bufferEvents;
    this.maxSessionMs = options.maxSessionMs ?? TAP_DEFAULTS.maxSessionMs;
    this.tappersGauge = options.stats?.gauge("tap.tappers");
    this.tapped = options.stats?.counter("tap.events_tapped");
    this.dropped = options.stats?.counter("tap.events_dropped");
  }

  get tapperCount(): number {
    return this.tappers.size;
  }

  /** Whether the hub's sink is registered (a tapper is connected). */
  get active(): boolean {
    return this.unregister !== undefined;
  }

  /** Adds a tapper (undefined when maxTappers are already connected); the returned function removes it. */
  open(filter: TapFilter, wake: () => void): { tapper: TapTapper; close: () => void } | undefined {
    if (this.tappers.size >= this.maxTappers) return undefined;
    const tapper: TapTapper = { filter, ring: new TapRing<TapEvent>(this.bufferEvents), wake };
    this.tappers.add(tapper);
    this.tappersGauge?.set(this.tappers.size);
    if (this.unregister === undefined) {
      this.unregister = this.sinks.add(this.sink);
      this.options.onActive?.(true);
    }
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      this.tappers.delete(tapper);
      this.tappersGauge?.set(this.tappers.size);
      if (this.tappers.size === 0 && this.unregister !== undefined) {
        this.unregister();
        this.unregister = undefined;
        this.options.onActive?.(false);
      }
    };
    return { tapper, close };
  }

  /** One finished stream (from this process's sink, or forwarded by a worker): queued for every tapper it matches. */
  publish(r: TapRecord): void {
    if (this.tappers.size === 0) return;
    let ev: TapEvent | undefined;
    for (const t of this.tappers) {
      if (!tapMatches(t.filter, r)) continue;
      ev ??= { id: this.nextId++, ...r };
      this.tapped?.inc();
      if (t.ring.size === t.ring.capacity) this.dropped?.inc();
      t.ring.push(ev);
      t.wake();
    }
  }

  /** Events a worker dropped before it could forward them: every tapper learns of them. */
  publishDropped(n: number): void {
    if (n <= 0) return;
    for (const t of this.tappers) {
      this.dropped?.inc(n);
      t.ring.addDropped(n);
      t.wake();
    }
  }
}

/**
 * A --concurrency worker's side of tap: while the primary has tappers, a sink turns the worker's
 * finished streams into records and sends them to the primary in batches (one message per
 * event-loop turn, at most `maxBatch` records; what a busy channel cannot take is dropped and counted).
 */
export class TapForwarder {
  private unregister: (() => void) | undefined;
  private batch: TapRecord[] = [];
  private dropped = 0;
  private scheduled = false;

  constructor(
    private readonly sinks: StreamSinks,
    private readonly send: (records: TapRecord[], dropped: number) => void,
    private readonly maxBatch: number = TAP_DEFAULTS.bufferEvents,
  ) {}

  /** Follows the primary: on registers the sink, off removes it and forgets what was queued. */
  set(on: boolean): void {
    if (on && this.unregister === undefined) {
      this.unregister = this.sinks.add({ onHttpStream: (i) => this.queue(tapRecord(i)), onTcpConnection: (i) => this.queue(tapRecord(i)) });
    } else if (!on && this.unregister !== undefined) {
      this.unregister();
      this.unregister = undefined;
      this.batch = [];
      this.dropped = 0;
    }
  }

  get active(): boolean {
    return this.unregister !== undefined;
  }

  private queue(r: TapRecord): void {
    if (this.batch.length >= this.maxBatch) this.dropped++;
    else this.batch.push(r);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.batch.length === 0 && this.dropped === 0) return;
      const records = this.batch;
      const dropped = this.dropped;
      this.batch = [];
      this.dropped = 0;
      this.send(records, dropped);
    });
  }
}
