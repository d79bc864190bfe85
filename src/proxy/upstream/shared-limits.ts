// Proxy-wide limits under `tsmesh proxy --concurrency N` (docs/design/concurrency-limits.md): the
// messages a worker and its primary exchange about a cluster's circuit breakers (leases of
// connections, requests and retries; the pending queue) and its outlier detection (results in,
// ejections out), and the hooks a cluster takes to use them. Node 20 has no SO_REUSEPORT and no
// memory shared between processes, so the primary arbitrates: it holds the one count per cluster
// and lends capacity to the workers in chunks, so that a worker admits most requests on its own.
//
// Messages travel in batches (one IPC message per event-loop turn and direction); cluster names
// key them, so a CDS update that replaces a cluster object keeps its counts.
import type { ClusterResources } from "./circuit-breakers.js";
import type { ClusterSpec } from "./cluster-config.js";
import type { ClusterStats } from "./cluster-stats.js";
import type { Host } from "./host.js";
import type { OutlierDetector, OutlierOptions, UpstreamOutcome } from "./outlier.js";
import type { OutlierConfig } from "./outlier-config.js";
import type { StatsScope } from "../stats.js";

/** Leased resources, by index: connections (HTTP/1.1: one per active request), requests, retries. */
export const CX = 0;
export const RQ = 1;
export const RETRY = 2;
export type LeasedResource = typeof CX | typeof RQ | typeof RETRY;
export const RESOURCES: readonly LeasedResource[] = [CX, RQ, RETRY];

/** What a waiting request asks the primary for (bit set). */
export const NEED_CX = 1;
export const NEED_RQ = 2;
export const NEED_RETRY = 4;

export function needBit(r: LeasedResource): number {
  return 1 << r;
}

/** Flags of a grant or denial: what the worker counts in its stats (summed by /stats). */
/** The request found every connection busy (upstream_cx_overflow). */
export const F_CX_OVERFLOW = 1;
/** Granted over max_connections: its host had no busy connection anywhere in the proxy. */
export const F_EXEMPT = 2;
/** The connection unit is one the worker already holds (an idle connection it parked): its lease does not grow. */
export const F_IN_PLACE = 4;

/** Worker → primary. `c` is the cluster name. */
export type ToPrimary =
  /** A request that the worker's lease cannot admit: `need` is a NEED_* set, `use` the worker's active + pending requests (retry budgets). */
  | { k: "acq"; c: string; id: number; need: number; host: string; use: number }
  /** The request stopped waiting (route timeout, downstream gone). */
  | { k: "cancel"; c: string; id: number }
  /**
   * Units handed back. While connections are contended: `freed`, the hosts whose connection slot
   * was released, and `held`, the worker's own count of what it holds (see Held).
   */
  | { k: "ret"; c: string; r: LeasedResource; n: number; freed?: string[]; held?: Held; yielded?: [answered: number, units: number] }
  /** Answer to revoke `round`: units handed back, and (connections) what it holds. */
  | { k: "ack"; c: string; r: LeasedResource; round: number; n: number; held?: Held }
  /** More lease without a waiting request (a connection opened outside a slot, HTTP/2 pools). */
  | { k: "top"; c: string; r: LeasedResource; n: number }
  /** The worker's active + pending requests (clusters with a retry budget). */
  | { k: "use"; c: string; n: number }
  /** Outlier detection: results that can change a host's state, as [host, code, host, code…]; code = HTTP status, or OUTCOME_* (< 0). */
  | { k: "od"; c: string; ev: Array<string | number> }
  /** Outlier detection: the worker's success-rate counts since the last collection, [host, total, success, localTotal, localSuccess…]. */
  | { k: "odr"; c: string; id: number; counts: Array<string | number> };

/** Primary → worker. */
export type ToWorker =
  /** The waiting request got what it asked for (`x`: extra units lent with it, per resource; `ch`: chunk sizes; `cont`: contended resources as a NEED_* set). */
  | { k: "grant"; c: string; id: number; f: number; x: [number, number, number]; ch: [number, number, number]; cont: number }
  /** The request waits in the proxy-wide pending queue (upstream_rq_pending_total). */
  | { k: "queued"; c: string; id: number }
  /** Overflow (503 UO / upstream_rq_retry_overflow). */
  | { k: "deny"; c: string; id: number; f: number }
  /** Answer to a top-up. */
  | { k: "lease"; c: string; r: LeasedResource; n: number; ch: number; cont: number }
  /** Another worker waits and nothing is left: hand back what is not in use, and from now on every unit as it is freed. */
  | { k: "revoke"; c: string; r: LeasedResource; round: number }
  /** Contention is over: keep a chunk again. */
  | { k: "calm"; c: string; r: LeasedResource }
  /** Close `n` parked idle connections and hand their units back (a waiter on another worker needs one); answered by a `ret` with `yielded`. */
  | { k: "yield"; c: string; r: LeasedResource; n: number }
  /** The primary's detector ejected (or brought back) a host. */
  | { k: "eject"; c: string; host: string; on: boolean }
  /** A host's consecutive-error counters are not zero: report its next success. */
  | { k: "suspect"; c: string; host: string }
  /** Send your success-rate counts (the detector's interval). */
  | { k: "odc"; c: string; id: number };

/**
 * A worker's connections as it counts them, sent with every connections message while they are
 * contended, so the primary's view is exact and cannot drift: its busy slots per host, its idle
 * connections holding a unit ("parked"), and how many connection grants, in-place grants and
 * yields it has received (the primary adds or subtracts those it sent that are still on the way).
 */
export interface Held {
  busy: Array<[string, number]>;
  idle: number;
  grants: number;
  inPlace: number;
  yields: number;
}

/** Local-origin outcomes in `od` events (HTTP statuses are >= 100). */
export const OUTCOME_CONNECT_FAILURE = -1;
export const OUTCOME_RESET = -2;
export const OUTCOME_TIMEOUT = -3;

/**
 * How a cluster shares its limits with the rest of the proxy. A worker's clusters take their
 * admission and outlier sink from it; the primary's clusters run the detector with its hooks.
 * Without it (one process, tests) a cluster keeps everything to itself.
 */
export interface ClusterSharing {
  /** Worker: the cluster's admission over leases. */
  resources?(spec: ClusterSpec, stats: ClusterStats, pool: IdleConnections): ClusterResources;
  /** Worker: where the cluster's results go (the primary's detector); it applies the primary's ejections to the hosts. */
  outlierSink?(spec: ClusterSpec): OutlierSink;
  /** Primary: the cluster's detector, fed by every worker's results (it broadcasts its ejections). */
  detector?(name: string, config: OutlierConfig, scope: StatsScope, opts: OutlierOptions, previous: OutlierDetector | undefined): OutlierDetector;
}

/** Where a cluster's upstream results go: its detector (OutlierDetector is one), or a worker's relay to the primary's. */
export interface OutlierSink {
  /** One upstream try's result for `host`. */
  report(host: Host, outcome: UpstreamOutcome): void;
  /** A response's status for `host` (gRPC: grpc-status mapped to HTTP) — `report` without the outcome object. */
  reportHttpStatus(host: Host, status: number): void;
  /** The cluster's hosts changed (after every assignment). */
  setHosts(hosts: Iterable<Host>): void;
  /** The cluster object is replaced or removed. */
  close(): void;
}

/** A cluster's pooled HTTP/1.1 connections, as a worker's admission sees them. */
export interface IdleConnections {
  /** Idle connections to `host` (a request to it reuses one instead of opening another). */
  idleTo(host: Host): number;
  /** Closes up to `n` idle connections; returns how many. */
  closeIdle(n: number): number;
  /** Connections closed by the proxy (FIN sent) whose close event has not come yet: they hold no unit. */
  closing(): number;
}

/**
 * Messages to one peer, sent as one batch per event-loop turn (setImmediate): an IPC message
 * costs a system call and a serialisation, whatever it carries.
 */
export class Outbox<T> {
  private batch: T[] = [];
  private scheduled = false;
  /** Batches sent so far (a sender appending to a message of the current batch compares it). */
  turn = 0;

  constructor(private readonly deliver: (batch: T[]) => void) {}

  push(m: T): void {
    this.batch.push(m);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.scheduled = false;
    if (this.batch.length === 0) return;
    const b = this.batch;
    this.batch = [];
    this.turn++;
    this.deliver(b);
  }
}
