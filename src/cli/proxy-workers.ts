// `tsmesh proxy --concurrency N`: Envoy's worker threads as processes. The primary keeps the one
// ADS stream, validates and ACKs, and serves admin and health; N workers (node:cluster) share the
// listening sockets and each runs the data path on the config the primary forwards to it. Limits
// hold for the proxy as a whole (docs/design/concurrency-limits.md): the primary lends circuit-
// breaker capacity to the workers and keeps the pending queue, and runs the one outlier detector
// per cluster over every worker's results (the messages are `limits` batches, relayed here). Stats
// are process-wide, as Envoy's: /stats sums the workers' counters and gauges on request (the
// circuit-breaker gauges computed from the sums), and /clusters the workers' per-host counters with
// the primary's detector's ejections and success rates. Admin commands that change state
// (/logging, /drain_listeners, /reset_counters) reach every worker; a worker starts with the
// primary's log levels (in its environment) and is sent them again once up. SDS secrets (the
// agent's and the ADS stream's, both held by the primary) are forwarded to every worker as they
// change — keys travel only over the IPC channel to the proxy's own children — and /certs shows a
// worker's TLS contexts (they terminate the listeners' TLS). While the admin has tappers
// (`tsmesh tap`), every worker forwards its finished streams to the primary, which serves them.
import cluster, { type Worker } from "node:cluster";
import type { Logger } from "../core/log.js";
import { type HostCounterSnapshot, hostCounterSnapshot, type WorkerCommand } from "../proxy/admin.js";
import type { ProxyServer } from "../proxy/proxy.js";
import { TapForwarder, type TapHub, type TapRecord } from "../proxy/observability/tap.js";
import { StatsStore, type StatsSnapshot } from "../proxy/stats.js";
import type { PrimaryLimits } from "../proxy/upstream/primary-limits.js";
import type { ToPrimary, ToWorker } from "../proxy/upstream/shared-limits.js";
import type { WorkerLimits } from "../proxy/upstream/worker-limits.js";
import { type BucketAnswer, type BucketAsk, PrimaryTokenBuckets, type WorkerTokenBuckets } from "../proxy/ratelimit/shared-buckets.js";
import type { ResourceUpdate } from "../proxy/xds/resources.js";
import { SECRET_TYPE } from "../envoy/protos.js";
import type { ContextCertificates } from "../proxy/tls/cert-details.js";
import type { SdsSecret, SecretEntry, SecretSourceName } from "../proxy/tls/secrets.js";

export const WORKER_ENV = "TSMESH_PROXY_WORKER";
/** The primary's log levels when it forked the worker (`name:level,...`). */
export const WORKER_LOG_LEVELS_ENV = "TSMESH_PROXY_LOG_LEVELS";
/**
 * Set to 1: every worker keeps its own circuit breakers and outlier detector, as before limits were
 * proxy-wide — only to measure what sharing them costs (bench:proxy); limits then do not hold.
 */
export const PER_WORKER_LIMITS_ENV = "TSMESH_PROXY_PER_WORKER_LIMITS";

/**
 * Gives back the memory start-up took: loading the code and the first config grows V8's young
 * generation to its maximum (16 MB here), and it stays committed — V8's memory reducer shrinks it
 * only if it happens to notice the process idle. This runs V8's low-memory collection once (the
 * inspector protocol's HeapProfiler.collectGarbage, in-process, no debugger involved): the young
 * generation shrinks to its minimum and grows back only if traffic needs it, so throughput is
 * unaffected and an idle proxy's RSS drops by ~10 MB. Best effort: a Node without the inspector
 * skips it.
 */
export async function releaseStartupMemory(): Promise<void> {
  try {
    const { Session } = await import("node:inspector");
    const session = new Session();
    session.connect();
    try {
      await new Promise<void>((resolve) => session.post("HeapProfiler.collectGarbage", () => resolve()));
    } finally {
      session.disconnect();
    }
  } catch {
    /* no inspector in this build of Node */
  }
}

/** Runs releaseStartupMemory() once, `delayMs` after the last call (a burst of config updates settles first). */
export function releaseMemoryWhenSettled(delayMs = 1000): () => void {
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  return () => {
    if (done) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      done = true;
      void releaseStartupMemory();
    }, delayMs);
    timer.unref();
  };
}

export type WorkerMessage =
  | { type: "ready" }
  | { type: "limits"; batch: ToPrimary[] }
  /** Local rate limit tokens wanted (the primary holds the buckets). */
  | { type: "buckets"; asks: BucketAsk[] }
  | { type: "stats"; id: number; snapshot: StatsSnapshot }
  | { type: "hosts"; id: number; hosts: HostCounterSnapshot[] }
  | { type: "certs"; id: number; certs: ContextCertificates[] }
  /** Finished streams for the primary's tappers (and how many the worker dropped). */
  | { type: "tap"; records: TapRecord[]; dropped: number };

export type PrimaryMessage =
  | { type: "update"; update: ResourceUpdate }
  | { type: "limits"; batch: ToWorker[] }
  | { type: "buckets"; answers: BucketAnswer[] }
  | { type: "stats"; id: number }
  | { type: "hosts"; id: number }
  | { type: "certs"; id: number }
  | { type: "secret"; source: SecretSourceName; name: string; secret: SdsSecret | undefined; version?: string; updatedAt?: number }
  | { type: "command"; command: WorkerCommand }
  | { type: "quit" };

/** One request to every worker, answered by each (or given up on after 2 s). */
interface Pending {
  replies: unknown[];
  left: number;
  done: () => void;
}

export class WorkerPool {
  private readonly workers = new Map<number, Worker>();
  private stopping = false;
  private requestId = 0;
  private readonly pending = new Map<number, Pending>();
  private readyCount = 0;
  private readonly readyWaiters: Array<() => void> = [];
  /** The admin's tappers: what workers forward goes there, and a new worker starts tapping if it is active. */
  tapHub: TapHub | undefined;

  constructor(
    private readonly proxy: ProxyServer,
    private readonly size: number,
    /** The `main` logger. */
    private readonly log: Logger,
    /** The proxy-wide limits (absent: each worker keeps its own). */
    private readonly limits?: PrimaryLimits,
    /** The local rate limit's buckets, for every worker. */
    private readonly buckets: PrimaryTokenBuckets = new PrimaryTokenBuckets(),
  ) {
    // Structured clone over IPC: decoded resources may hold bytes.
    cluster.setupPrimary({ serialization: "advanced" });
    for (let i = 0; i < size; i++) this.spawn();
    // Secrets go on their own messages (the agent's never were ADS updates).
    proxy.ads?.on("update", (u) => u.typeUrl !== SECRET_TYPE && this.broadcast({ type: "update", update: u }));
    proxy.secrets.onChange((source, name, entry) => this.broadcast(secretMessage(source, name, entry)));
    // /clusters shows the hosts as the workers (which carry the traffic) see them.
    proxy.hostCollector = () => this.collectHosts();
  }

  /** Every first-generation worker has started (its listeners are bound). */
  ready(): Promise<void> {
    if (this.readyCount >= this.size) return Promise.resolve();
    return new Promise((r) => this.readyWaiters.push(r));
  }

  get isReady(): boolean {
    return this.readyCount >= this.size;
  }

  pids(): number[] {
    return [...this.workers.values()].map((w) => w.process.pid ?? 0);
  }

  private spawn(): void {
    const levels = this.proxy.logs.levels().map(([n, l]) => `${n}:${l}`).join(",");
    const w = cluster.fork({ [WORKER_ENV]: "1", [WORKER_LOG_LEVELS_ENV]: levels });
    this.workers.set(w.id, w);
    this.limits?.workerStarted(w.id);
    w.on("message", (m: WorkerMessage) => this.onMessage(w, m));
    w.on("error", () => {});
    w.once("exit", (code, signal) => {
      this.workers.delete(w.id);
      // What it held under the circuit breakers is free again; a new worker starts with nothing.
      this.limits?.workerGone(w.id);
      for (const p of this.pending.values()) {
        p.left--;
        if (p.left <= 0) p.done();
      }
      if (this.stopping) return;
      this.log.warn(`worker ${w.process.pid} exited (${signal ?? code}); starting another`);
      setTimeout(() => !this.stopping && this.spawn(), 200).unref();
    });
  }

  private onMessage(w: Worker, m: WorkerMessage): void {
    if (m.type === "limits") this.limits?.receive(w.id, m.batch);
    else if (m.type === "buckets") this.send(w, { type: "buckets", answers: this.buckets.receive(m.asks) });
    else if (m.type === "tap") {
      for (const r of m.records) this.tapHub?.publish(r);
      this.tapHub?.publishDropped(m.dropped);
    }
    else if (m.type === "ready") {
      // Bring the new worker up to date with everything the primary holds (levels changed since its fork too).
      this.send(w, { type: "command", command: { type: "logging", levels: this.proxy.logs.levels() } });
      for (const e of this.proxy.secrets.entries()) this.send(w, secretMessage(e.source, e.name, e));
      for (const u of this.proxy.currentUpdates()) this.send(w, { type: "update", update: u });
      if (this.tapHub?.active) this.send(w, { type: "command", command: { type: "tap", on: true } });
      this.limits?.workerReady(w.id);
      if (++this.readyCount >= this.size) for (const r of this.readyWaiters.splice(0)) r();
    } else if (m.type === "stats" || m.type === "hosts" || m.type === "certs") {
      const p = this.pending.get(m.id);
      if (!p) return;
      p.replies.push(m.type === "stats" ? m.snapshot : m.type === "hosts" ? m.hosts : m.certs);
      p.left--;
      if (p.left <= 0) p.done();
    }
  }

  private send(w: Worker, m: PrimaryMessage): void {
    if (w.isConnected()) w.send(m);
  }

  private broadcast(m: PrimaryMessage): void {
    for (const w of this.workers.values()) this.send(w, m);
  }

  /** The primary's limits messages to one worker. */
  sendLimits(worker: number, batch: ToWorker[]): void {
    const w = this.workers.get(worker);
    if (w) this.send(w, { type: "limits", batch });
  }

  /** An admin command the primary applied, for every worker to apply. */
  command(command: WorkerCommand): void {
    this.broadcast({ type: "command", command });
  }

  /** The primary's stats plus every worker's, summed (workers that do not answer in 2 s are left out). */
  async collectStats(): Promise<StatsStore> {
    const own = this.proxy.stats.snapshot();
    const replies = await this.ask("stats");
    const merged = StatsStore.merged([own, ...(replies as StatsSnapshot[])]);
    this.limits?.breakerGauges(merged, this.proxy.clusters.values());
    return merged;
  }

  /** The primary's per-host counters and every worker's (for /clusters; merged by the admin). */
  async collectHosts(): Promise<HostCounterSnapshot[][]> {
    const own = hostCounterSnapshot(this.proxy);
    const replies = await this.ask("hosts");
    return [own, ...(replies as HostCounterSnapshot[][])];
  }

  /** The TLS contexts as a worker has them (its listeners terminate TLS); the primary's own without workers. */
  async collectCerts(): Promise<ContextCertificates[]> {
    const replies = (await this.ask("certs")) as ContextCertificates[][];
    return replies[0] ?? this.proxy.tlsContexts();
  }

  private ask(type: "stats" | "hosts" | "certs"): Promise<unknown[]> {
    const id = ++this.requestId;
    return new Promise((resolve) => {
      const replies: unknown[] = [];
      const finish = () => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(replies);
      };
      const timer = setTimeout(finish, 2000);
      this.pending.set(id, { replies, left: this.workers.size, done: finish });
      if (this.workers.size === 0) return finish();
      this.broadcast({ type, id });
    });
  }

  /** Asks every worker to drain and exit; kills those still there after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    this.stopping = true;
    const exits = [...this.workers.values()].map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.isDead()) return resolve();
          const t = setTimeout(() => {
            w.process.kill("SIGKILL");
            resolve();
          }, graceMs);
          w.once("exit", () => {
            clearTimeout(t);
            resolve();
          });
          this.send(w, { type: "quit" });
        }),
    );
    await Promise.all(exits);
  }
}

/**
 * A worker's side: start (static config), then apply what the primary sends, answer stats requests,
 * exit on quit. Messages are taken from the first moment (IPC drops messages nobody listens to) and
 * held until the proxy has started.
 */
export function serveAsWorker(proxy: ProxyServer, start: () => Promise<void>, log: Logger, limits?: WorkerLimits, buckets?: WorkerTokenBuckets): Promise<number> {
  return new Promise((resolve) => {
    let started = false;
    const held: PrimaryMessage[] = [];
    let quitting = false;
    const quit = () => {
      if (quitting) return;
      quitting = true;
      // The IPC channel keeps a worker's event loop alive: let go of it once the proxy is closed.
      void proxy.close().then(() => {
        limits?.close();
        buckets?.close();
        if (process.connected) process.disconnect();
        resolve(0);
      });
    };
    const settled = releaseMemoryWhenSettled();
    const tap = new TapForwarder(proxy.streamSinks, (records, dropped) => process.connected && process.send?.({ type: "tap", records, dropped } satisfies WorkerMessage));
    const handle = (m: PrimaryMessage) => {
      if (m.type === "update") {
        proxy.applyUpdate(m.update);
        settled();
      } else if (m.type === "limits") limits?.receive(m.batch);
      else if (m.type === "buckets") buckets?.receive(m.answers);
      else if (m.type === "stats") process.send?.({ type: "stats", id: m.id, snapshot: proxy.stats.snapshot() } satisfies WorkerMessage);
      else if (m.type === "hosts") process.send?.({ type: "hosts", id: m.id, hosts: hostCounterSnapshot(proxy) } satisfies WorkerMessage);
      else if (m.type === "certs") process.send?.({ type: "certs", id: m.id, certs: proxy.tlsContexts() } satisfies WorkerMessage);
      else if (m.type === "secret") proxy.secrets.set(m.source, m.name, m.secret, m.version, m.updatedAt);
      else if (m.type === "command") applyCommand(proxy, m.command, tap);
      else if (m.type === "quit") quit();
    };
    // Log levels apply at once (start-up logs too); the rest waits for the proxy.
    const now = (m: PrimaryMessage) => started || m.type === "quit" || (m.type === "command" && m.command.type === "logging");
    process.on("message", (m: PrimaryMessage) => (now(m) ? handle(m) : held.push(m)));
    // The primary went away: nothing will configure or stop this worker any more.
    process.once("disconnect", quit);
    // Signals are the primary's to handle (it stops the workers).
    process.on("SIGINT", () => {});
    process.on("SIGTERM", quit);
    start().then(
      () => {
        started = true;
        for (const m of held.splice(0)) handle(m);
        process.send?.({ type: "ready" } satisfies WorkerMessage);
      },
      (e: Error) => {
        log.critical(`worker ${process.pid} failed to start: ${e.message}`);
        void proxy.close().then(() => resolve(1));
      },
    );
  });
}

/** A secret (or its removal) as the primary sends it to its workers. */
function secretMessage(source: SecretSourceName, name: string, e: SecretEntry | undefined): PrimaryMessage {
  return { type: "secret", source, name, secret: e?.secret, version: e?.version, updatedAt: e?.updatedAt };
}

/** A worker's side of a state-changing admin command. */
function applyCommand(proxy: ProxyServer, c: WorkerCommand, tap: TapForwarder): void {
  if (c.type === "logging") proxy.logs.follow(c.levels);
  else if (c.type === "tap") tap.set(c.on);
  else if (c.type === "drain_listeners") proxy.listeners.drainAll();
  else if (c.type === "reset_counters") proxy.stats.resetCounters();
}
