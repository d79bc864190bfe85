// Outlier detection for the proxy as a whole under `--concurrency N`: the primary runs the one
// detector per cluster (outlier.ts) over every worker's results and tells the workers which hosts
// it ejects and brings back, so consecutive errors, success rates, max_ejection_percent and
// always_eject_one_host are counted across workers, and a host is ejected once.
//
// The messages stay few at any request rate:
// - a failure (5xx, or a local-origin failure) is sent at once (batched per event-loop turn), and
//   none while its host is ejected (un-ejection resets the counters anyway);
// - a success is sent only when it can change the detector's state: for a host whose consecutive
//   counters are not zero ("suspect": the primary says so, and a worker assumes so after sending a
//   failure), the first success after;
// - the success-rate and failure-percentage counts are collected when the detector's interval is
//   due (the primary asks, each worker answers with its per-host totals since the last time).
import type { StatsScope } from "../stats.js";
import type { ClusterSpec } from "./cluster-config.js";
import type { Host } from "./host.js";
import { OutlierDetector, type OutlierOptions, type UpstreamOutcome } from "./outlier.js";
import type { OutlierConfig } from "./outlier-config.js";
import { OUTCOME_CONNECT_FAILURE, OUTCOME_RESET, OUTCOME_TIMEOUT, type Outbox, type OutlierSink, type ToPrimary, type ToWorker } from "./shared-limits.js";

// ---- primary ----

/** What the primary's detectors tell the workers, and ask of them. */
export interface DetectorLink {
  broadcast(m: ToWorker): void;
  /** Live workers' ids (a collection waits for each, or for the timeout). */
  workers(): number[];
}

/** The primary's detector for one cluster: every worker's results, ejections broadcast. */
export class SharedOutlierDetector extends OutlierDetector {
  private readonly byKey = new Map<string, Host>();

  constructor(
    private readonly hub: OutlierHub,
    readonly name: string,
    config: OutlierConfig,
    scope: StatsScope,
    opts: OutlierOptions,
    previous: OutlierDetector | undefined,
  ) {
    super(config, scope, opts, previous);
  }

  override setHosts(hosts: Iterable<Host>): void {
    super.setHosts(hosts);
    this.byKey.clear();
    for (const h of this.monitors.keys()) this.byKey.set(h.key, h);
    // The cluster object with hosts is the one the workers' results are for (a warming one is not yet).
    if (this.byKey.size > 0) this.hub.register(this);
  }

  host(key: string): Host | undefined {
    return this.byKey.get(key);
  }

  /** One worker's result (`code`: HTTP status or OUTCOME_*): the consecutive counters only; the buckets come with the collection. */
  apply(host: Host, code: number): void {
    if (this.closed) return;
    const m = this.monitors.get(host);
    if (m === undefined) return;
    const before = m.consecutive5xx | m.consecutiveGatewayFailure | m.consecutiveLocalOriginFailure;
    const split = this.config.splitExternalLocalOriginErrors;
    if (code >= 100) {
      if (split) m.consecutiveLocalOriginFailure = 0;
      this.consecutiveHttp(m, code);
    } else if (split) {
      if (++m.consecutiveLocalOriginFailure === this.config.consecutiveLocalOriginFailure) this.onConsecutiveError(m, "consecutive_local_origin_failure");
    } else this.consecutiveHttp(m, code === OUTCOME_TIMEOUT ? 504 : 503);
    if (before === 0 && this.suspect(host)) this.hub.broadcast({ k: "suspect", c: this.name, host: host.key });
  }

  /** A worker's success-rate counts since the last collection. */
  addCounts(host: Host, total: number, success: number, localTotal: number, localSuccess: number): void {
    const m = this.monitors.get(host);
    if (m === undefined) return;
    m.external.total += total;
    m.external.success += success;
    m.localOrigin.total += localTotal;
    m.localOrigin.success += localSuccess;
  }

  /** Whether the host's consecutive counters are not all zero. */
  suspect(host: Host): boolean {
    const m = this.monitors.get(host);
    return m !== undefined && (m.consecutive5xx | m.consecutiveGatewayFailure | m.consecutiveLocalOriginFailure) !== 0;
  }

  hosts(): IterableIterator<Host> {
    return this.byKey.values();
  }

  protected override ejectionChanged(host: Host, ejected: boolean): void {
    this.hub.broadcast({ k: "eject", c: this.name, host: host.key, on: ejected });
  }

  protected override intervalDue(): void {
    this.hub.collect(this, () => this.onInterval());
  }

  override close(): void {
    super.close();
    this.hub.unregister(this);
  }
}

interface Collection {
  detector: SharedOutlierDetector;
  waiting: Set<number>;
  done: () => void;
  timer: NodeJS.Timeout;
}

/** The primary's detectors by cluster name, their collections, and what a new worker must know. */
export class OutlierHub {
  private readonly detectors = new Map<string, SharedOutlierDetector>();
  private readonly collections = new Map<number, Collection>();
  private nextId = 0;

  constructor(
    private readonly link: DetectorLink,
    /** How long a collection waits for a worker that does not answer. */
    private readonly collectTimeoutMs = 1000,
  ) {}

  detector(name: string, config: OutlierConfig, scope: StatsScope, opts: OutlierOptions, previous: OutlierDetector | undefined): OutlierDetector {
    return new SharedOutlierDetector(this, name, config, scope, opts, previous);
  }

  /** @internal */
  register(d: SharedOutlierDetector): void {
    this.detectors.set(d.name, d);
  }

  /** @internal */
  unregister(d: SharedOutlierDetector): void {
    if (this.detectors.get(d.name) === d) this.detectors.delete(d.name);
  }

  /** @internal */
  broadcast(m: ToWorker): void {
    this.link.broadcast(m);
  }

  /** @internal asks every worker for its counts, then runs `pass` (at the latest after the timeout). */
  collect(d: SharedOutlierDetector, pass: () => void): void {
    const workers = this.link.workers();
    if (workers.length === 0) return pass();
    const id = ++this.nextId;
    const finish = () => {
      const c = this.collections.get(id);
      if (c === undefined) return;
      clearTimeout(c.timer);
      this.collections.delete(id);
      c.done();
    };
    const timer = setTimeout(finish, this.collectTimeoutMs);
    timer.unref();
    this.collections.set(id, { detector: d, waiting: new Set(workers), done: pass, timer });
    this.link.broadcast({ k: "odc", c: d.name, id });
  }

  receive(worker: number, m: Extract<ToPrimary, { k: "od" | "odr" }>): void {
    if (m.k === "od") {
      const d = this.detectors.get(m.c);
      if (d === undefined) return;
      const ev = m.ev;
      for (let i = 0; i + 1 < ev.length; i += 2) {
        const h = d.host(String(ev[i]));
        if (h !== undefined) d.apply(h, Number(ev[i + 1]));
      }
      return;
    }
    // An answer after the timeout still counts (in the interval now running).
    const d = this.collections.get(m.id)?.detector ?? this.detectors.get(m.c);
    const counts = m.counts;
    for (let i = 0; d !== undefined && i + 4 < counts.length; i += 5) {
      const h = d.host(String(counts[i]));
      if (h !== undefined) d.addCounts(h, Number(counts[i + 1]), Number(counts[i + 2]), Number(counts[i + 3]), Number(counts[i + 4]));
    }
    this.answered(m.id, worker);
  }

  private answered(id: number, worker: number): void {
    const c = this.collections.get(id);
    if (c === undefined || !c.waiting.delete(worker) || c.waiting.size > 0) return;
    clearTimeout(c.timer);
    this.collections.delete(id);
    c.done();
  }

  workerGone(worker: number): void {
    for (const id of [...this.collections.keys()]) this.answered(id, worker);
  }

  /** Ejections and suspects, for a worker that just started. */
  snapshot(): ToWorker[] {
    const out: ToWorker[] = [];
    for (const d of this.detectors.values()) {
      for (const h of d.hosts()) {
        if (h.ejected) out.push({ k: "eject", c: d.name, host: h.key, on: true });
        else if (d.suspect(h)) out.push({ k: "suspect", c: d.name, host: h.key });
      }
    }
    return out;
  }

  close(): void {
    for (const c of this.collections.values()) clearTimeout(c.timer);
    this.collections.clear();
  }
}

// ---- worker ----

/** A host's results since the last collection: external total/success, local-origin total/success. */
type Counts = [number, number, number, number];

/** One cluster name's outlier state in a worker (shared by its cluster objects). */
class RelayState {
  readonly ejected = new Set<string>();
  readonly suspect = new Set<string>();
  readonly counts = new Map<Host, Counts>();
  readonly sinks = new Set<RelaySink>();
  /** The `od` message of the current outbox batch (events are appended to it). */
  private events: Array<string | number> | undefined = undefined;
  private eventsTurn = -1;

  constructor(
    readonly name: string,
    private readonly outbox: Outbox<ToPrimary>,
  ) {}

  count(host: Host): Counts {
    let c = this.counts.get(host);
    if (c === undefined) this.counts.set(host, (c = [0, 0, 0, 0]));
    return c;
  }

  event(key: string, code: number): void {
    if (this.ejected.has(key)) return;
    if (this.events === undefined || this.eventsTurn !== this.outbox.turn) {
      this.events = [];
      this.eventsTurn = this.outbox.turn;
      this.outbox.push({ k: "od", c: this.name, ev: this.events });
    }
    this.events.push(key, code);
  }

  /** The counts since the last collection, as [host, total, success, localTotal, localSuccess…]; zeroed. */
  drain(): Array<string | number> {
    const out: Array<string | number> = [];
    for (const [h, c] of this.counts) if (c[0] + c[2] > 0) out.push(h.key, c[0], c[1], c[2], c[3]);
    this.counts.clear();
    return out;
  }

  setEjected(key: string, on: boolean): void {
    if (on) this.ejected.add(key);
    else this.ejected.delete(key);
    for (const s of this.sinks) {
      const h = s.byKey.get(key);
      if (h !== undefined) h.ejected = on;
    }
  }
}

/** A worker's cluster object's outlier sink: results go to the primary's detector. */
class RelaySink implements OutlierSink {
  readonly byKey = new Map<string, Host>();

  constructor(
    private readonly state: RelayState,
    private readonly split: boolean,
  ) {
    state.sinks.add(this);
  }

  setHosts(hosts: Iterable<Host>): void {
    this.byKey.clear();
    const ejected = this.state.ejected;
    for (const h of hosts) {
      this.byKey.set(h.key, h);
      h.ejected = ejected.has(h.key);
    }
  }

  reportHttpStatus(host: Host, status: number): void {
    const st = this.state;
    const c = st.count(host);
    const failed = status >= 500 && status < 600;
    c[0]++;
    if (!failed) c[1]++;
    if (this.split) {
      c[2]++;
      c[3]++;
    }
    if (failed) {
      st.suspect.add(host.key);
      st.event(host.key, status);
    } else if (st.suspect.size > 0 && st.suspect.delete(host.key)) st.event(host.key, status);
  }

  report(host: Host, outcome: UpstreamOutcome): void {
    if (outcome.kind === "response") return this.reportHttpStatus(host, outcome.status);
    const st = this.state;
    const c = st.count(host);
    if (this.split) c[2]++;
    else c[0]++;
    st.suspect.add(host.key);
    st.event(host.key, outcome.kind === "timeout" ? OUTCOME_TIMEOUT : outcome.kind === "reset" ? OUTCOME_RESET : OUTCOME_CONNECT_FAILURE);
  }

  close(): void {
    this.state.sinks.delete(this);
  }
}

/** A worker's side: sinks for its clusters, the primary's ejections applied to their hosts. */
export class OutlierRelay {
  private readonly states = new Map<string, RelayState>();

  constructor(private readonly outbox: Outbox<ToPrimary>) {}

  sink(spec: ClusterSpec): OutlierSink {
    return new RelaySink(this.state(spec.name), spec.outlier?.splitExternalLocalOriginErrors === true);
  }

  private state(name: string): RelayState {
    let s = this.states.get(name);
    if (s === undefined) this.states.set(name, (s = new RelayState(name, this.outbox)));
    return s;
  }

  receive(m: Extract<ToWorker, { k: "eject" | "suspect" | "odc" }>): void {
    if (m.k === "eject") this.state(m.c).setEjected(m.host, m.on);
    else if (m.k === "suspect") this.state(m.c).suspect.add(m.host);
    else this.outbox.push({ k: "odr", c: m.c, id: m.id, counts: this.states.get(m.c)?.drain() ?? [] });
  }
}
