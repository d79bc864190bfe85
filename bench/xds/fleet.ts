// bench:xds's load: a fleet of simulated proxies on Delta ADS over a few gRPC channels (with Envoy's
// HTTP/2 flow-control windows for its xDS cluster), and the phases it measures (initial full push, a
// VirtualService change, an endpoint change): from a trigger until every proxy has ACKed the response
// that completes its state, with bytes and responses per type per proxy and this process's CPU.
import * as grpc from "@grpc/grpc-js";
import { host } from "./mesh-config.js";
import { CHANNELS, EDS_SERVICE, fmtBytes, fmtMs, now, PHASE_TIMEOUT_MS, PORT, PROXIES, type Short, SHORT_TYPES, sleep } from "./settings.js";
import { Anomalies, type FleetView, type PhaseState, type Recorded, SimProxy } from "./sim-proxy.js";

export interface PhaseResult {
  name: string;
  ms: number;
  converged: number;
  timedOut: boolean;
  bytesPerProxy: number;
  /** Per type: responses and bytes per proxy. */
  byType: Record<Short, { responses: number; bytes: number }>;
  loadCpuMs: number;
}

export class Fleet implements FleetView {
  readonly proxies: SimProxy[] = [];
  readonly clients: grpc.Client[] = [];
  readonly anomalies = new Anomalies();
  phase: PhaseState | undefined;
  recording: Recorded[] | undefined;
  route8080: string | undefined;
  lastResponseAt = 0;
  closing = false;

  constructor(
    readonly label: string,
    private readonly address: string,
  ) {
    for (let i = 0; i < PROXIES; i++) this.proxies.push(new SimProxy(i, this));
  }

  /** Opens the channels (separate TCP connections) and waits until they are connected. */
  async connect(): Promise<void> {
    for (let c = 0; c < CHANNELS; c++) {
      this.clients.push(
        new grpc.Client(this.address, grpc.credentials.createInsecure(), {
          "grpc.use_local_subchannel_pool": 1,
          "grpc.max_receive_message_length": -1,
          "grpc.max_send_message_length": -1,
          "grpc.keepalive_time_ms": 300_000,
          // Envoy's HTTP/2 defaults for its xDS cluster: 256 MiB stream and connection windows.
          "grpc-node.flow_control_window": 256 * 1024 * 1024,
        }),
      );
    }
    await Promise.all(
      this.clients.map((c) => new Promise<void>((resolve, reject) => c.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve())))),
    );
  }

  openStreams(): void {
    for (const p of this.proxies) p.open(this.clients[p.idx % CHANNELS]);
  }

  totalBytes(): number {
    let n = 0;
    for (const p of this.proxies) n += p.bytes;
    return n;
  }

  private typeTotals(): Record<Short, { responses: number; bytes: number }> {
    const out = {} as Record<Short, { responses: number; bytes: number }>;
    for (const s of SHORT_TYPES) {
      let responses = 0;
      let bytes = 0;
      for (const p of this.proxies) {
        responses += p.tracks[s].responses;
        bytes += p.tracks[s].bytes;
      }
      out[s] = { responses, bytes };
    }
    return out;
  }

  /**
   * Runs a phase: `mark` notes per-proxy state, `trigger` starts it (the clock starts just before),
   * `check` says when a proxy has converged. Resolves when all have, or on timeout.
   */
  async phaseRun(
    name: string,
    check: (p: SimProxy) => boolean,
    trigger: () => void,
    mark: (p: SimProxy) => void = () => {},
    record = false,
  ): Promise<PhaseResult & { recorded?: Recorded[] }> {
    for (const p of this.proxies) {
      p.phaseDone = false;
      mark(p);
    }
    const bytes0 = this.totalBytes();
    const types0 = this.typeTotals();
    if (record) this.recording = [];
    const cpu0 = process.cpuUsage();
    const phase: PhaseState = { name, start: now(), check, converged: 0, lastAt: 0 };
    const done = new Promise<void>((resolve) => (phase.resolve = resolve));
    this.phase = phase;
    phase.start = now();
    trigger();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([done.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), PHASE_TIMEOUT_MS[name] ?? 30_000)))]);
    clearTimeout(timer);
    const cpu = process.cpuUsage(cpu0);
    this.phase = undefined;
    const recorded = this.recording;
    this.recording = undefined;
    const types1 = this.typeTotals();
    const byType = {} as PhaseResult["byType"];
    for (const s of SHORT_TYPES) {
      byType[s] = { responses: (types1[s].responses - types0[s].responses) / PROXIES, bytes: (types1[s].bytes - types0[s].bytes) / PROXIES };
    }
    const ms = (timedOut ? now() : phase.lastAt) - phase.start;
    const bytesPerProxy = (this.totalBytes() - bytes0) / PROXIES;
    console.log(
      `  [${this.label}] ${name}: ${timedOut ? `TIMEOUT after ${fmtMs(ms)}` : fmtMs(ms)}, ${phase.converged}/${PROXIES} converged, ${fmtBytes(bytesPerProxy)}/proxy`,
    );
    return {
      name,
      ms,
      converged: phase.converged,
      timedOut,
      bytesPerProxy,
      byType,
      loadCpuMs: (cpu.user + cpu.system) / 1000,
      recorded,
    };
  }

  /** Waits until no response arrived for `quietMs` (bounded by `maxMs`). */
  async settle(quietMs = 500, maxMs = 5000): Promise<void> {
    const end = now() + maxMs;
    while (now() < end && now() - this.lastResponseAt < quietMs) await sleep(50);
  }

  close(): void {
    this.closing = true;
    for (const p of this.proxies) p.close();
    for (const c of this.clients) c.close();
  }
}

// Phase predicates, shared by the tsmesh and floor runs.
function initialDone(p: SimProxy): boolean {
  const t = p.tracks;
  return t.cds.acked && t.lds.acked && t.rds.acked && t.eds.acked && t.eds.pending.size === 0 && t.rds.pending.size === 0;
}

const edsNames = [`outbound|${PORT}||${host(EDS_SERVICE)}`, `outbound|${PORT}|v1|${host(EDS_SERVICE)}`];

/** The three phases' results, and (when recording) the responses proxy 0 got in each. */
export interface Phases {
  initial: PhaseResult;
  vs: PhaseResult;
  eds: PhaseResult;
  recorded: Record<string, Recorded[]>;
}

export async function runPhases(
  fleet: Fleet,
  triggers: { vs: () => void; eds: () => void },
  record: boolean,
  between: (phase: string) => Promise<void>,
): Promise<Phases> {
  const recorded: Record<string, Recorded[]> = {};
  await fleet.connect();
  const initial = await fleet.phaseRun("initial", initialDone, () => fleet.openStreams(), undefined, record);
  recorded.initial = initial.recorded ?? [];
  await fleet.settle();
  await between("initial");
  const route = fleet.route8080;
  if (!route) throw new Error(`${fleet.label}: no listener on port ${PORT} with an RDS route was received`);
  const vs = await fleet.phaseRun(
    "vs",
    (p) => p.tracks.rds.versions.get(route) !== p.mark[0],
    triggers.vs,
    (p) => (p.mark = [p.tracks.rds.versions.get(route)]),
    record,
  );
  recorded.vs = vs.recorded ?? [];
  await fleet.settle();
  await between("vs");
  const eds = await fleet.phaseRun(
    "eds",
    (p) => edsNames.every((n, i) => p.tracks.eds.versions.get(n) !== p.mark[i]),
    triggers.eds,
    (p) => (p.mark = edsNames.map((n) => p.tracks.eds.versions.get(n))),
    record,
  );
  recorded.eds = eds.recorded ?? [];
  await fleet.settle();
  await between("eds");
  return { initial, vs, eds, recorded };
}

