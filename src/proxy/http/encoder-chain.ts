// The response side of the filter manager: a Downstream that runs what the router (or a filter's
// local reply) writes through the encoder filters, in reverse config order, before it reaches the
// client. A filter may stop the response (until it continues) or hold body chunks; what waits
// meanwhile is bounded by the buffer limit, past which the stream is reset, as Envoy resets a
// response it cannot buffer.
import type * as http from "node:http";
import type * as net from "node:net";
import { Downstream, type DownstreamListener, type DownstreamProtocol } from "./downstream.js";
import { DataStatus, FilterStatus, type HttpFilter } from "./filter.js";

/** What the wrapper needs from the filter manager. */
export interface EncoderHost {
  encodeSlots(): readonly { readonly filter: HttpFilter }[];
  readonly host: { readonly bufferLimit: number };
  readonly done: boolean;
  /** The end of the response went to the client (`gone`: or the client went away first). */
  encodingEnded(gone: boolean): void;
}

type Op = { t: 0; status: number; headers: http.OutgoingHttpHeaders; end: boolean } | { t: 1; chunk: Buffer; end: boolean } | { t: 2; trailers: http.IncomingHttpHeaders | undefined };

/** The stream's response path through the encoder filters (one per stream that has any). */
export class DownstreamWrapper implements DownstreamListener {
  /** The views by start index: almost always one (the router's), kept apart from the rare others. */
  private firstView: EncoderView | undefined = undefined;
  private otherViews: Map<number, EncoderView> | undefined = undefined;
  private active: EncoderView | undefined = undefined;
  /** The filter the response stopped at (-1: flowing). */
  private blockedAt = -1;
  /** The op the stopped filter let through (or undefined when it keeps it), resumed below it. */
  private blockedOp: Op | undefined = undefined;
  /** Ops written while stopped, not yet seen by any encoder filter. */
  private queue: Op[] = [];
  private queuedBytes = 0;
  /** The index the response starts encoding at (the writer's). */
  private startAt = -1;
  headersSent = false;

  /** Who followed the downstream before this wrapper (the stream, while filters hold the request). */
  private readonly before: DownstreamListener | undefined;
  /**
   * No filter reads the body or trailers (Istio's sidecar chain: the peer metadata filter only edits
   * response headers): once the headers are through, the writer's body goes to the client as is.
   */
  private readonly headersOnly: boolean;

  constructor(
    readonly ds: Downstream,
    private readonly mgr: EncoderHost,
  ) {
    this.before = ds.listener;
    ds.listener = this;
    let headersOnly = true;
    for (const s of mgr.encodeSlots()) if (s.filter.encodeData !== undefined || s.filter.encodeTrailers !== undefined) headersOnly = false;
    this.headersOnly = headersOnly;
  }

  /** A Downstream that encodes from filter `start` down to the first. */
  from(start: number): Downstream {
    const first = this.firstView;
    if (first === undefined) return (this.firstView = new EncoderView(this, start));
    if (first.start === start) return first;
    this.otherViews ??= new Map();
    let v = this.otherViews.get(start);
    if (v === undefined) this.otherViews.set(start, (v = new EncoderView(this, start)));
    return v;
  }

  onGone(): void {
    const l = this.active?.listener;
    if (l !== undefined) l.onGone();
    else this.before?.onGone();
    this.mgr.encodingEnded(true);
  }

  /** A filter holds part of the response (stopped, or ops wait behind it). */
  get holding(): boolean {
    return this.blockedAt >= 0 || this.queue.length > 0;
  }

  onDrain(): void {
    if (this.blockedAt < 0) this.active?.listener?.onDrain();
  }

  /** @internal Whether view `v`'s body and trailers may go to the client directly (nothing holds the response, no filter reads them). */
  passes(v: EncoderView): boolean {
    return this.headersOnly && this.blockedAt < 0 && this.active === v;
  }

  /** @internal The writer's response head (view `v`): through the filters' encodeHeaders, with no op unless one stops it. */
  respond(v: EncoderView, status: number, headers: http.OutgoingHttpHeaders, end: boolean): void {
    if (this.active !== undefined || !this.headersOnly) {
      this.write(v, { t: 0, status, headers, end });
      return;
    }
    this.active = v;
    const from = (this.startAt = v.start);
    const slots = this.mgr.encodeSlots();
    for (let i = from; i >= 0; i--) {
      const f = slots[i].filter;
      if (f.encodeHeaders !== undefined && f.encodeHeaders(status, headers, end) === FilterStatus.StopIteration) {
        this.block(i, { t: 0, status, headers, end });
        return;
      }
    }
    this.ds.respond(status, headers, end);
  }

  /** @internal An op from the writer (view `v`). Returns the client's backpressure answer. */
  write(v: EncoderView, op: Op): boolean {
    if (this.active === undefined) {
      this.active = v;
      this.startAt = v.start;
    }
    if (this.blockedAt >= 0) {
      this.queue.push(op);
      if (op.t === 1) {
        this.queuedBytes += op.chunk.length;
        if (this.queuedBytes > this.mgr.host.bufferLimit) this.overflow();
      }
      return true;
    }
    return this.run(op, this.startAt);
  }

  /** Runs one op through filters `from`..0, then to the client. */
  private run(op: Op, from: number): boolean {
    const slots = this.mgr.encodeSlots();
    for (let i = from; i >= 0; i--) {
      const f = slots[i].filter;
      if (op.t === 0) {
        if (f.encodeHeaders === undefined) continue;
        if (f.encodeHeaders(op.status, op.headers, op.end) === FilterStatus.StopIteration) return this.block(i, op);
      } else if (op.t === 1) {
        if (f.encodeData === undefined) continue;
        const st = f.encodeData(op.chunk, op.end);
        if (st === DataStatus.StopIterationAndBuffer) return this.block(i, op);
        if (st === DataStatus.StopIterationNoBuffer) return this.block(i, undefined);
      } else {
        if (f.encodeTrailers === undefined || op.trailers === undefined) continue;
        if (f.encodeTrailers(op.trailers) === FilterStatus.StopIteration) return this.block(i, op);
      }
    }
    return this.emit(op);
  }

  private block(i: number, op: Op | undefined): boolean {
    this.blockedAt = i;
    this.blockedOp = op;
    return true;
  }

  private emit(op: Op): boolean {
    const ds = this.ds;
    if (op.t === 0) {
      ds.respond(op.status, op.headers, op.end);
      if (op.end) this.mgr.encodingEnded(false);
      return true;
    }
    if (op.t === 1) {
      const ok = op.chunk.length > 0 ? ds.write(op.chunk) : true;
      if (op.end) {
        ds.end();
        this.mgr.encodingEnded(false);
      }
      return ok;
    }
    ds.end(op.trailers);
    this.mgr.encodingEnded(false);
    return true;
  }

  /** @internal A filter continues the response it stopped. */
  continueFrom(index: number): void {
    if (this.blockedAt !== index) return;
    this.blockedAt = -1;
    const op = this.blockedOp;
    this.blockedOp = undefined;
    if (op !== undefined) this.run(op, index - 1);
    // What was written meanwhile goes through the whole chain again, in order.
    while (this.blockedAt < 0 && this.queue.length > 0) {
      const next = this.queue.shift()!;
      if (next.t === 1) this.queuedBytes -= next.chunk.length;
      this.run(next, this.startAt);
    }
    if (this.blockedAt < 0) this.active?.listener?.onDrain();
  }

  /** More held than the buffer limit: the response cannot be delivered whole. */
  private overflow(): void {
    this.queue = [];
    this.queuedBytes = 0;
    this.blockedAt = -1;
    this.ds.reset();
    this.onGone();
  }
}

/** One writer's entry into the encoder chain (the router's, or a filter's local reply). */
class EncoderView extends Downstream {
  constructor(
    private readonly w: DownstreamWrapper,
    readonly start: number,
  ) {
    super();
    // Upgrades tunnel past the filters, when the client's side can tunnel at all.
    const ds = w.ds;
    if (ds.tunnel !== undefined) this.tunnel = (up: net.Socket, head: Buffer) => ds.tunnel!(up, head);
  }

  get protocol(): DownstreamProtocol {
    return this.w.ds.protocol;
  }

  get headersSent(): boolean {
    return this.w.headersSent;
  }

  get gone(): boolean {
    return this.w.ds.gone;
  }

  override get requestComplete(): boolean {
    return this.w.ds.requestComplete;
  }

  respond(status: number, headers: http.OutgoingHttpHeaders, endStream: boolean): void {
    this.w.headersSent = true;
    this.w.respond(this, status, headers, endStream);
  }

  write(chunk: Buffer): boolean {
    const w = this.w;
    if (w.passes(this)) return chunk.length > 0 ? w.ds.write(chunk) : true;
    return w.write(this, { t: 1, chunk, end: false });
  }

  end(trailers?: http.IncomingHttpHeaders): void {
    const w = this.w;
    if (w.passes(this)) w.ds.end(trailers);
    else w.write(this, trailers === undefined ? { t: 1, chunk: EMPTY, end: true } : { t: 2, trailers });
  }

  reset(): void {
    this.w.ds.reset();
  }
}

const EMPTY = Buffer.alloc(0);
