// An in-process `--concurrency N` proxy for unit tests of the proxy-wide limits: the primary's
// limits and N workers' limits, each side with its own cluster objects and stats, the messages
// delivered as the real IPC relays them (batches, asynchronously), a fake clock for the timers.
import type { ProtoObject } from "../../../src/envoy/protos.js";
import { StatsStore } from "../../../src/proxy/stats.js";
import { clusterSpec, UpstreamCluster } from "../../../src/proxy/upstream/cluster.js";
import { PrimaryLimits } from "../../../src/proxy/upstream/primary-limits.js";
import type { ToPrimary, ToWorker } from "../../../src/proxy/upstream/shared-limits.js";
import { WorkerLimits } from "../../../src/proxy/upstream/worker-limits.js";
import { FakeClock } from "../../helpers/fake-clock.js";

export interface SimWorker {
  id: number;
  limits: WorkerLimits;
  store: StatsStore;
  cluster: UpstreamCluster;
  alive: boolean;
  /** Messages to it are lost (a worker too busy to read, about to die). */
  deaf?: boolean;
}

export class SimProxy {
  readonly clock = new FakeClock();
  readonly primary: PrimaryLimits;
  readonly primaryStore = new StatsStore();
  readonly primaryCluster: UpstreamCluster;
  readonly workers: SimWorker[] = [];
  /** Every message sent to a live worker or to the primary, in order. */
  readonly log: Array<{ to: "primary" | number; m: ToPrimary | ToWorker }> = [];
  private delivered = 0;

  constructor(
    readonly cluster: ProtoObject,
    workers = 2,
  ) {
    const spec = clusterSpec(cluster);
    this.primary = new PrimaryLimits(
      (name) => (name === spec.name ? this.primaryCluster.spec : undefined),
      (worker, batch) => {
        const w = this.workers.find((x) => x.id === worker);
        if (!w?.alive) return;
        for (const m of batch) this.log.push({ to: worker, m });
        if (w.deaf) return;
        this.delivered++;
        w.limits.receive(batch);
      },
      this.clock,
    );
    this.primaryCluster = new UpstreamCluster(spec, this.primaryStore.tagged("cluster.", spec.name), undefined, { sharing: this.primary, clock: this.clock });
    for (let i = 1; i <= workers; i++) this.addWorker(i);
  }

  addWorker(id: number): SimWorker {
    const store = new StatsStore();
    const w: SimWorker = { id, store, alive: true, limits: undefined!, cluster: undefined! };
    w.limits = new WorkerLimits((batch) => {
      if (!w.alive) return;
      this.delivered++;
      for (const m of batch) this.log.push({ to: "primary", m });
      this.primary.receive(id, batch);
    }, 1);
    w.cluster = new UpstreamCluster(clusterSpec(this.cluster), store.tagged("cluster.", String(this.cluster.name)), undefined, { sharing: w.limits, clock: this.clock });
    this.workers.push(w);
    this.primary.workerStarted(id);
    this.primary.workerReady(id);
    return w;
  }

  /** The worker dies: nothing more from or to it; the primary hears of it as node:cluster's exit. */
  kill(w: SimWorker): void {
    w.alive = false;
    this.primary.workerGone(w.id);
  }

  /** Lets every message in flight (and the answers it causes) arrive. */
  async settle(): Promise<void> {
    for (;;) {
      const before = this.delivered;
      for (let i = 0; i < 4; i++) await new Promise<void>((r) => setImmediate(r));
      if (this.delivered === before) return;
    }
  }

  stat(w: SimWorker | "primary", name: string): number {
    const store = w === "primary" ? this.primaryStore : w.store;
    const m = new RegExp(`^cluster\\.${String(this.cluster.name)}\\.${name.replace(/\./g, "\\.")}: (-?\\d+)$`, "m").exec(store.text());
    return m ? Number(m[1]) : 0;
  }

  /** A stat summed over the workers (what /stats shows). */
  sum(name: string): number {
    return this.workers.reduce((a, w) => a + this.stat(w, name), 0);
  }

  close(): void {
    this.primary.close();
    this.primaryCluster.close();
    for (const w of this.workers) {
      w.cluster.close();
      w.limits.close();
    }
  }
}

export function staticCluster(name: string, hosts: number, extra: ProtoObject = {}): ProtoObject {
  return {
    name,
    type: "STATIC",
    connectTimeout: { seconds: 1 },
    loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: Array.from({ length: hosts }, (_, i) => ({ endpoint: { address: { socketAddress: { address: "127.0.161.1", portValue: 8001 + i } } } })) }] },
    ...extra,
  };
}
