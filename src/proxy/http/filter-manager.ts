// Envoy's HTTP filter manager for one stream: creates the connection manager's filters for the
// stream (those enabled on its route), runs request headers and body through them in config order
// and the response through them in reverse order, stops and resumes the iteration when a filter
// asks, holds what a stopped filter buffers (bounded: 413 past the listener's buffer limit), and
// routes local replies through the filters before the one that answers.
//
// Cost when no filter takes part in a phase: none — the request body goes straight to the router
// and the router writes straight to the client; only filter instances with body or response
// methods put the manager in between.
import type * as http from "node:http";
import { flagBit, type ResponseFlag } from "../access-log.js";
import type { DynamicMetadata } from "../dynamic-metadata.js";
import type { HttpStreamInfo } from "../stream-info.js";
import type { BodySource, Downstream, Reply, RequestBody, StreamAbort } from "./downstream.js";
import { DownstreamWrapper } from "./encoder-chain.js";
import { DataStatus, type FilterCallbacks, type FilterRequest, FilterStatus, type HttpFilter, type HttpFilterFactory, type StreamResult } from "./filter.js";
import { perRouteFilterConfig, type ResolvedRoute } from "./route-glue.js";

/** What the manager needs from the stream that owns it (the connection manager's ActiveStream). */
export interface FilterStreamHost {
  readonly request: FilterRequest;
  /** The client's side of the response. */
  readonly downstream: Downstream;
  /** The stream's timers stop a forward through it. */
  readonly abort: StreamAbort;
  /** The stream's dynamic metadata (made on first use). */
  readonly dynamicMetadata: DynamicMetadata;
  /** The route (matched once and cached; undefined when none matched). */
  route(): ResolvedRoute | undefined;
  clearRouteCache(): void;
  /** A decoder filter replaced :path. */
  setPath(path: string): void;
  /** Builds the request body over `source` (the raw body, or the decoder filters' output). */
  makeBody(source: BodySource | undefined): RequestBody;
  /** The raw request body source (undefined: no body). */
  readonly bodySource: BodySource | undefined;
  /** Bytes stopped filters may hold (the listener's buffer limit): past it the request gets 413. */
  readonly bufferLimit: number;
  flags: number;
  /** The request headers passed every filter before the terminal one. */
  terminalReached(): void;
  /** Writes a local reply to `ds` (gRPC-aware) and ends the stream with it. */
  sendLocalReply(ds: Downstream, reply: Reply, headers: http.OutgoingHttpHeaders | undefined): void;
  /** The stream is over: stats, and the record for the filters' onLog, access logs and sinks. */
  complete(result: StreamResult): void;
}

/** One filter instance of the stream and its place in the chain. */
class FilterSlot implements FilterCallbacks {
  readonly filter: HttpFilter;
  /** Body the filter stopped on (StopIterationAndBuffer), waiting for it to continue. */
  held: Buffer[] | undefined = undefined;
  heldEnd = false;

  constructor(
    readonly mgr: FilterManager,
    readonly index: number,
    readonly factory: HttpFilterFactory,
  ) {
    this.filter = factory.create(this);
  }

  get request(): FilterRequest {
    return this.mgr.host.request;
  }

  get downstream(): Downstream {
    return this.mgr.downstreamFor(this.index);
  }

  get body(): RequestBody {
    return this.mgr.body;
  }

  get abort(): StreamAbort {
    return this.mgr.host.abort;
  }

  get dynamicMetadata(): DynamicMetadata {
    return this.mgr.host.dynamicMetadata;
  }

  get filterState(): Map<string, unknown> {
    return this.mgr.filterState;
  }

  route(): ResolvedRoute | undefined {
    return this.mgr.host.route();
  }

  clearRouteCache(): void {
    this.mgr.host.clearRouteCache();
  }

  setPath(path: string): void {
    this.mgr.host.setPath(path);
  }

  perRouteConfig<T>(): T | undefined {
    const r = this.mgr.host.route();
    return r === undefined ? undefined : (perRouteFilterConfig(r, this.factory.name)?.config as T | undefined);
  }

  continueDecoding(): void {
    this.mgr.continueDecoding(this.index);
  }

  continueEncoding(): void {
    this.mgr.continueEncoding(this.index);
  }

  sendLocalReply(reply: Reply, headers?: http.OutgoingHttpHeaders): void {
    this.mgr.localReply(reply, headers, this.index);
  }

  setResponseFlag(flag: ResponseFlag): void {
    this.mgr.host.flags |= flagBit(flag);
  }

  streamComplete(result: StreamResult): void {
    this.mgr.finish(result);
  }
}

/** Envoy's local reply when stopped decoder filters buffered more than the limit. */
const PAYLOAD_TOO_LARGE: Reply = { status: 413, body: "Payload Too Large", details: "request_payload_too_large" };

export class FilterManager {
  private readonly slots: FilterSlot[] = [];
  /** Index of the filter whose decodeHeaders runs (or ran last); slots.length once past them all. */
  private decodePos = 0;
  /** The filter that stopped the request headers (-1: none). */
  private stoppedAt = -1;
  private headersDone = false;
  private finished = false;
  /** The request body as the terminal filter reads it. */
  body!: RequestBody;
  private encoder: DownstreamWrapper | undefined = undefined;
  /** The router's end of the stream, while an encoder filter still holds the response. */
  private pendingFinish: StreamResult | undefined = undefined;
  /** The RequestBody's side of the decoder filters' output. */
  private sink: { data(c: Buffer): void; end(): void } | undefined = undefined;
  private pendingToSink: Buffer[] | undefined = undefined;
  private pendingEndToSink = false;
  private heldBytes = 0;
  /** The RequestBody asked the filtered source to pause. */
  private sinkPaused = false;
  private rawStarted = false;
  private state: Map<string, unknown> | undefined = undefined;

  constructor(
    readonly host: FilterStreamHost,
    factories: readonly HttpFilterFactory[],
  ) {
    const route = host.route();
    for (const f of factories) if (filterEnabled(f, route)) this.slots.push(new FilterSlot(this, this.slots.length, f));
    for (const s of this.slots) if (s.filter.onLog !== undefined) this.logFilters = true;
  }

  /** Whether a filter of the stream observes its end (onLog): the stream's record is then built. */
  readonly logFilters: boolean = false;

  /** Envoy's filter access loggers: each filter's onLog with the finished stream (before onDestroy). */
  log(info: HttpStreamInfo): void {
    for (const s of this.slots) {
      try {
        s.filter.onLog?.(info);
      } catch {
        // an observer never breaks the end of the stream
      }
    }
  }

  /**
   * The stream's filter state (Envoy's FilterState): what filters leave for others and for the
   * stream's record (StreamInfo.filterState). Starts with the connection's entries (a network
   * filter's peer metadata); made on first use.
   */
  get filterState(): Map<string, unknown> {
    return (this.state ??= new Map(this.host.request.connection.filterState ?? []));
  }

  /** The filter state when a filter or the connection made one (undefined: nobody wrote any). */
  get filterStateIfAny(): ReadonlyMap<string, unknown> | undefined {
    return this.state ?? this.host.request.connection.filterState;
  }

  /** Runs the request through the chain (headers first; the body follows as it arrives). */
  start(): void {
    const host = this.host;
    const raw = host.bodySource;
    let dataFilters = false;
    for (const s of this.slots) if (!s.factory.terminal && s.filter.decodeData !== undefined) dataFilters = true;
    if (raw === undefined || !dataFilters) {
      this.body = host.makeBody(raw);
      this.iterateHeaders(0);
      return;
    }
    // Body chunks reach a filter only after its request headers did: the raw body starts flowing
    // once the headers went as far as they can.
    this.body = host.makeBody(this.filteredSource(raw));
    this.iterateHeaders(0);
    if (!this.finished && !this.rawStarted) {
      this.rawStarted = true;
      raw.start(
        (c) => this.dataFrom(0, c, false),
        () => this.dataFrom(0, EMPTY, true),
      );
    }
  }

  // ---- request headers ----

  private iterateHeaders(from: number): void {
    const slots = this.slots;
    const headers = this.host.request.headers;
    const endStream = this.host.bodySource === undefined;
    for (let i = from; i < slots.length; i++) {
      if (this.finished) return;
      this.decodePos = i;
      const s = slots[i];
      const terminal = s.factory.terminal;
      if (terminal) this.reachedTerminal();
      const f = s.filter;
      if (f.decodeHeaders === undefined) continue;
      const st = f.decodeHeaders(headers, endStream);
      if (this.finished || terminal) return;
      if (st === FilterStatus.StopIteration) {
        this.stoppedAt = i;
        return;
      }
    }
    this.decodePos = slots.length;
    if (!this.headersDone) this.reachedTerminal();
  }

  private reachedTerminal(): void {
    this.headersDone = true;
    this.host.terminalReached();
    this.flushToSink();
  }

  /** @internal FilterSlot.continueDecoding. */
  continueDecoding(index: number): void {
    if (this.finished) return;
    const slot = this.slots[index];
    if (this.stoppedAt === index) {
      this.stoppedAt = -1;
      this.iterateHeaders(index + 1);
      if (this.finished) return;
    } else if (slot.held === undefined) return;
    // What the filter held goes on to the filters after it.
    const held = slot.held;
    const heldEnd = slot.heldEnd;
    slot.held = undefined;
    slot.heldEnd = false;
    if (held !== undefined) {
      for (const c of held) this.heldBytes -= c.length;
      this.dataFrom(index + 1, held.length === 1 ? held[0] : Buffer.concat(held), heldEnd);
    }
    this.resumeRawIfRoom();
  }

  // ---- request body ----

  /** The body as the RequestBody reads it: what the decoder filters let through. */
  private filteredSource(raw: BodySource): BodySource {
    return {
      start: (onData, onEnd) => {
        this.sink = { data: onData, end: onEnd };
      },
      pause: () => {
        this.sinkPaused = true;
        raw.pause();
      },
      resume: () => {
        this.sinkPaused = false;
        this.resumeRawIfRoom();
      },
    };
  }

  /** A body chunk (or the end) reaching filter `from` onwards. */
  private dataFrom(from: number, chunk: Buffer, end: boolean): void {
    const slots = this.slots;
    for (let i = from; i < slots.length; i++) {
      if (this.finished) return;
      const s = slots[i];
      if (s.factory.terminal) break;
      // Filters the request headers have not reached see nothing yet: it waits at the stopped one.
      if (i > this.decodePos) return this.hold(slots[this.decodePos], chunk, end);
      const f = s.filter;
      if (f.decodeData === undefined) {
        if (i === this.stoppedAt || s.held !== undefined) return this.hold(s, chunk, end);
        continue;
      }
      // A filter that buffers sees every chunk (and the end) as it comes, as in Envoy.
      const st = f.decodeData(chunk, end);
      if (this.finished) return;
      if (st === DataStatus.StopIterationAndBuffer) return this.hold(s, chunk, end);
      if (st === DataStatus.StopIterationNoBuffer) return;
      const held = s.held;
      if (held !== undefined) {
        // Continue after buffering: what it held goes on with this chunk.
        s.held = undefined;
        s.heldEnd = false;
        for (const c of held) this.heldBytes -= c.length;
        if (chunk.length > 0) held.push(chunk);
        chunk = held.length === 1 ? held[0] : Buffer.concat(held);
        this.resumeRawIfRoom();
      }
      // Continue from the filter that stopped the headers resumes them first (Envoy's rule).
      if (i === this.stoppedAt) {
        this.stoppedAt = -1;
        this.iterateHeaders(i + 1);
        if (this.finished) return;
      }
    }
    this.toSink(chunk, end);
  }

  private hold(s: FilterSlot, chunk: Buffer, end: boolean): void {
    s.held ??= [];
    if (chunk.length > 0) {
      s.held.push(chunk);
      this.heldBytes += chunk.length;
    }
    if (end) s.heldEnd = true;
    if (this.heldBytes > this.host.bufferLimit) {
      this.localReply(PAYLOAD_TOO_LARGE, undefined, this.decodePos);
      return;
    }
    // Flow control: stop reading while the filters hold half a buffer's worth.
    if (this.heldBytes > this.host.bufferLimit / 2) this.host.bodySource?.pause();
  }

  private resumeRawIfRoom(): void {
    if (!this.sinkPaused && this.heldBytes <= this.host.bufferLimit / 2) this.host.bodySource?.resume();
  }

  private toSink(chunk: Buffer, end: boolean): void {
    const sink = this.sink;
    if (!this.headersDone || sink === undefined) {
      if (chunk.length > 0) (this.pendingToSink ??= []).push(chunk);
      if (end) this.pendingEndToSink = true;
      return;
    }
    if (chunk.length > 0) sink.data(chunk);
    if (end) sink.end();
  }

  private flushToSink(): void {
    const sink = this.sink;
    if (sink === undefined) return;
    const p = this.pendingToSink;
    this.pendingToSink = undefined;
    if (p !== undefined) for (const c of p) sink.data(c);
    if (this.pendingEndToSink) {
      this.pendingEndToSink = false;
      sink.end();
    }
  }

  // ---- response ----

  /**
   * The downstream filter `index` writes to: through the response methods of the filters before it,
   * or the client's directly when none of them has any.
   */
  downstreamFor(index: number): Downstream {
    let e = this.encoder;
    if (e === undefined) {
      const slots = this.slots;
      let any = false;
      for (let i = 0; i < index && i < slots.length; i++) {
        const f = slots[i].filter;
        if (f.encodeHeaders !== undefined || f.encodeData !== undefined || f.encodeTrailers !== undefined) any = true;
      }
      if (!any) return this.host.downstream;
      e = this.encoder = new DownstreamWrapper(this.host.downstream, this);
    }
    return e.from(index - 1);
  }

  /** @internal The encoder chain's view of the filters. */
  encodeSlots(): readonly FilterSlot[] {
    return this.slots;
  }

  /** @internal FilterSlot.continueEncoding. */
  continueEncoding(index: number): void {
    if (this.finished) return;
    this.encoder?.continueFrom(index);
  }

  /** A local reply from filter `index`: the filters before it see the response. */
  localReply(reply: Reply, headers: http.OutgoingHttpHeaders | undefined, index: number): void {
    if (this.finished) return;
    this.host.flags |= flagBit(reply.flag);
    this.host.sendLocalReply(this.downstreamFor(index), reply, headers);
  }

  /** The connection manager answers (stream timers, errors): every filter the request reached sees it. */
  hcmLocalReply(reply: Reply): void {
    this.localReply(reply, undefined, Math.min(this.decodePos, this.slots.length));
  }

  /** @internal Whether the stream is over. */
  get done(): boolean {
    return this.finished;
  }

  /**
   * The client went away while a filter held the request (an ext_authz check, a fault delay): the
   * stream ends here (flag DC, as Envoy's reset) and every filter's onDestroy releases what it
   * started. Once the router has the request, the forward follows the downstream itself.
   */
  downstreamGone(): void {
    if (this.finished || this.headersDone) return;
    this.host.flags |= flagBit("DC");
    this.finish({ status: 0, flags: 0, bytesSent: 0, details: "downstream_remote_disconnect" });
  }

  /**
   * The encoder chain delivered the end of the response (or lost the client): a stream whose end
   * waited for it ends now.
   */
  encodingEnded(gone: boolean): void {
    const r = this.pendingFinish;
    if (r === undefined || this.finished) return;
    if (gone) this.host.flags |= flagBit("DC");
    this.finish(r);
  }

  /** The stream ended: filters release what they hold, the stream is logged. */
  finish(result: StreamResult): void {
    if (this.finished) return;
    // The router is done but an encoder filter still holds part of the response: the stream ends
    // once that has gone to the client (Envoy completes a stream only when its response is fully
    // encoded), or the client went away. A second end while one waits (a reset, a stream timeout)
    // does not wait.
    if (this.pendingFinish === undefined && this.encoder?.holding === true) {
      this.pendingFinish = result;
      return;
    }
    this.pendingFinish = undefined;
    this.finished = true;
    for (const s of this.slots) s.held = undefined;
    // (The host logs first: filters see onLog before onDestroy, as Envoy's.)
    try {
      this.host.complete(result);
    } finally {
      for (const s of this.slots) {
        try {
          s.filter.onDestroy?.();
        } catch {
          // a filter's cleanup never breaks the end of the stream
        }
      }
    }
  }
}

const EMPTY = Buffer.alloc(0);

/** HttpFilter.disabled and the route's FilterConfig.disabled decide whether a filter runs. */
function filterEnabled(f: HttpFilterFactory, route: ResolvedRoute | undefined): boolean {
  if (f.terminal) return true;
  const per = route === undefined ? undefined : perRouteFilterConfig(route, f.name);
  return per !== undefined ? !per.disabled : !f.disabledByDefault;
}
