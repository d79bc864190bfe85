// A whole mesh on one machine (`tsmesh up`): the control plane in this process, and for every
// WorkloadEntry a supervised `tsmesh proxy` (sidecar or gateway) plus its app, each on the
// workload's own loopback address. Config folders are watched; WorkloadEntries and Gateways added,
// changed or removed while it runs start, restart or stop their processes. A workload that fails
// (its app exits, or it is not ready in time) is reported once and retried with Kubernetes'
// CrashLoopBackOff while the rest of the mesh serves; nothing a workload does stops the mesh. The
// test harness and the `up` command both drive this class.
import { proxyResourceValidator } from "./envoyfilter-validator.js";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { Discovery } from "../controlplane/discovery.js";
import { registryServiceEntries } from "../registry/kube-service.js";
import type { JwksFetchMode } from "../model/request-authentication.js";
import { defaultStateDir, packageRoot } from "../core/paths.js";
import type { CaKeyType } from "../security/ca.js";
import { WorkloadCredentials } from "./credentials.js";
import { resolveProgram } from "./command-line.js";
import { appAddressFor, OUTBOUND_PORT, planMesh, sameWorkload, type MeshPlan, type PlannedWorkload } from "./plan.js";
import { SupervisedProcess, type CrashReport, type SupervisorClock } from "./supervisor.js";
import { findPrometheus, LocalPrometheus } from "./prometheus.js";
import { bindFailureLine, changeLine, failureReport, readyLine, workloadOwner } from "./console-lines.js";
import { type BindFailure, ListenerFailures, proxyAddressOf } from "../controlplane/listener-failures.js";
import { DEFAULT_PROMETHEUS_ADDRESS } from "./prometheus-config.js";
import { appWorkingDir } from "./app-dir.js";
import { canConnect, httpStatus, sleep } from "./probes.js";

export const ADMIN_PORT = 15000;
export { OUTBOUND_PORT };
export const HEALTH_PORT = 15021;

export interface LocalMeshOptions {
  /** The folder of Istio YAML (workloads, services, routing). */
  dir: string;
  /** More folders or files layered on top (watched too). */
  extraConfig?: readonly string[];
  /** The control plane's ADS address (istiod's 15010). */
  xdsAddress?: string;
  /** /metrics, /debug/*; "" disables it (istiod's 15014). */
  monitoringAddress?: string;
  /**
   * Istio's mesh config YAML (istiod's --meshConfig); without it, an `istio` ConfigMap in
   * istio-system in the config folders is the mesh config.
   */
  meshConfigFile?: string;
  /**
   * The control plane's state folder: the mesh CA's self-signed root, the workload credential key,
   * the root bundle file and each workload's credential (default ~/.tsmesh/default).
   */
  stateDir?: string;
  /** Istio's plug-in CA folder (cacerts), instead of the self-signed root; watched. */
  cacertsDir?: string;
  /** xDS + CA over TLS (istiod's 15012); default the xDS address's host, port 15012. */
  secureXdsAddress?: string;
  /** The self-signed root's key type (default EC P-256). */
  caKeyType?: CaKeyType;
  /** Workload certificates' lifetime, a Go duration (Istio's SECRET_TTL; the agents' --cert-ttl, default 24h). */
  workloadCertTtl?: string;
  /**
   * The credentials folder (gateways' credentialName secrets). Default: a `credentials` folder
   * beside `dir`, when there is one (see defaultCredentialsDir).
   */
  credentialsDir?: string;
  /** Where process logs go; default a new folder under the OS temp dir. */
  logDir?: string;
  /**
   * How long a workload may take to be ready after its processes start (default 30 s); past it, it
   * is reported and restarted with backoff. start() waits at most this long.
   */
  readyTimeoutMs?: number;
  /** Each proxy's --concurrency (default 1: one process per proxy on a laptop). */
  proxyConcurrency?: number;
  /** Restart backoff for crashed processes (first delay, default 10 s; doubles up to 5 min, as Kubernetes' CrashLoopBackOff). */
  restartBackoffMs?: number;
  /** The supervisors' clock (tests). */
  clock?: SupervisorClock;
  /** Push debounce (istiod's 100 ms). */
  debounceQuietMs?: number;
  /** Who fetches RequestAuthentication jwksUri (istiod's PILOT_JWT_ENABLE_REMOTE_JWKS; default hybrid). */
  jwksFetchMode?: JwksFetchMode;
  /** Runs Debian's Prometheus scraping the control plane and every proxy (`up --prometheus`). */
  prometheus?: {
    /** HOST:PORT on loopback (default DEFAULT_PROMETHEUS_ADDRESS). */
    address?: string;
    /** Seconds between scrapes (default 15). */
    scrapeIntervalSeconds?: number;
  };
  /** Progress and crash reports, one line per call. */
  log?: (line: string) => void;
}

/** `tsmesh up`'s default credentials folder: `credentials/` beside the config folder, if it exists. */
export function defaultCredentialsDir(dir: string): string | undefined {
  const candidate = join(dirname(resolve(dir)), "credentials");
  return existsSync(candidate) && statSync(candidate).isDirectory() ? candidate : undefined;
}

export interface WorkloadStatus {
  plan: PlannedWorkload;
  proxy: SupervisedProcess;
  app?: SupervisedProcess;
  /** Its credential for the mesh CA (a token file, 0600, kept fresh). */
  credentialFile: string;
  /** ms from its own launch until its proxy (and app) were first ready. */
  readyAfterMs?: number;
  /** starting: not ready yet; ready; failing: crashed or not ready in time, retried with backoff. */
  state: "starting" | "ready" | "failing";
  /** When it was launched (Date.now()). */
  launchedAt: number;
  /** The failure already reported on the console (reported once until it recovers). */
  reportedFailure?: string;
}

export interface StartResult {
  /** ms from start() until every proxy and app was ready (or the ready timeout, when some were not). */
  readyAfterMs: number;
  workloads: WorkloadStatus[];
}

function sanitize(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, "_");
}

function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

// Readiness probes live in probes.ts; re-exported for the tests and commands that import them from here.
export { canConnect, httpStatus } from "./probes.js";

/**
 * Node flags for proxies: a 2 MiB young generation caps a proxy's RSS under load (106 → 77 MB
 * peak in bench:proxy) at no measured CPU cost.
 */
export const PROXY_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=2"];

/** What a proxy's agent needs to get its workload's certificates from the mesh CA. */
export interface ProxyIdentityArgs {
  /** The CA (istiod's 15012), HOST:PORT. */
  caAddress: string;
  /** The mesh root bundle file (trust anchor for the CA's serving certificate; watched by the agent). */
  rootCertFile: string;
  /** The workload's credential file (re-read at every CSR). */
  credentialFile: string;
  trustDomain: string;
  /** The agent's --cert-ttl (default: the agent's own, 24h). */
  certTtl?: string;
}

/**
 * The node arguments `tsmesh up` runs a workload's proxy with (also used by bench:proxy). With
 * `identity`, the proxy's agent is on: it obtains the workload's certificate from the mesh CA.
 */
export function proxyCommandArgs(plan: PlannedWorkload, o: { tsmeshBin: string; xdsAddress: string; concurrency: number; identity?: ProxyIdentityArgs }): string[] {
  const args = [...PROXY_NODE_FLAGS, o.tsmeshBin, "proxy", plan.role, "--ip", plan.address, "--name", plan.name, "--namespace", plan.namespace, "--discovery-address", o.xdsAddress, "--concurrency", String(o.concurrency)];
  const labels = Object.entries(plan.labels).map(([k, v]) => `${k}=${v}`);
  if (labels.length > 0) args.push("--labels", labels.join(","));
  if (plan.locality) args.push("--locality", plan.locality);
  if (plan.appAddress) args.push("--app-address", plan.appAddress);
  if (plan.appMetrics) args.push("--app-metrics", `${plan.appMetrics.port}${plan.appMetrics.path}`);
  const id = o.identity;
  if (id) {
    args.push("--ca-address", id.caAddress, "--ca-root-cert", id.rootCertFile, "--credential-file", id.credentialFile);
    args.push("--service-account", plan.serviceAccount ?? "default", "--trust-domain", id.trustDomain);
    if (id.certTtl) args.push("--cert-ttl", id.certTtl);
  }
  return args;
}

/** The kinds the plan is made from: a change to one may start, stop or move a workload. */
const PLAN_KINDS: ReadonlySet<string> = new Set(["WorkloadEntry", "Gateway", "ServiceEntry", "Service", "KubernetesGateway", "GatewayClass", "ReferenceGrant"]);

export class LocalMesh {
  readonly discovery: Discovery;
  readonly logDir: string;
  readonly dir: string;
  readonly stateDir: string;
  private credentials: WorkloadCredentials | undefined;
  private readonly workloads = new Map<string, WorkloadStatus>();
  private readonly log: (line: string) => void;
  private readonly tsmeshBin = join(packageRoot(), "dist/src/cli/bin.js");
  private unsubscribe: (() => void) | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  /** The reconcile in progress: one at a time. */
  private reconciling: Promise<void> = Promise.resolve();
  private startedAt = 0;
  private stopped = false;
  private readonly onExit = () => this.killAll();
  /** Prometheus, when asked for (started after the control plane). */
  prometheus: LocalPrometheus | undefined;
  plan: MeshPlan = { workloads: [], problems: [] };
  /** Bind failure lines already on the console. */
  private readonly reportedBindFailures = new Set<string>();
  private readonly bindFailures: ListenerFailures;

  constructor(private readonly options: LocalMeshOptions) {
    this.dir = resolve(options.dir);
    this.log = options.log ?? (() => {});
    this.logDir = options.logDir ?? mkdtempSync(join(tmpdir(), "tsmesh-up-"));
    mkdirSync(this.logDir, { recursive: true });
    this.stateDir = resolve(options.stateDir ?? defaultStateDir());
    this.discovery = new Discovery({
      configPaths: [this.dir, ...(options.extraConfig ?? []).map((p) => resolve(p))],
      xdsAddress: options.xdsAddress ?? "127.0.0.1:15010",
      monitoringAddress: options.monitoringAddress ?? "127.0.0.1:15014",
      debounceQuietMs: options.debounceQuietMs,
      meshConfigFile: options.meshConfigFile === undefined ? undefined : resolve(options.meshConfigFile),
      stateDir: this.stateDir,
      cacertsDir: options.cacertsDir === undefined ? undefined : resolve(options.cacertsDir),
      secureXdsAddress: this.secureXdsListenAddress,
      caKeyType: options.caKeyType,
      credentialsDir: options.credentialsDir === undefined ? defaultCredentialsDir(this.dir) : resolve(options.credentialsDir),
      jwksFetchMode: options.jwksFetchMode,
      log: (line) => this.discoveryLog(line),
    });
    // EnvoyFilter results go through the proxy's own checks before they reach a proxy.
    this.discovery.generator.envoyFilterValidator = proxyResourceValidator;
    this.bindFailures = new ListenerFailures(this.discovery.server, (nodeId, failures) => this.listenerFailures(nodeId, failures));
  }

  /** The listeners the proxy on `address` cannot bind (its LDS NACK stands). */
  bindFailuresAt(address: string): readonly BindFailure[] {
    return this.bindFailures.at(address);
  }

  /** A proxy's listeners that cannot bind: one line each, once (until they bind or fail differently). */
  private listenerFailures(nodeId: string, failures: readonly BindFailure[]): void {
    const w = [...this.workloads.values()].find((x) => x.plan.address === proxyAddressOf(nodeId));
    if (!w) return;
    const lines = failures.map((f) => bindFailureLine(workloadOwner(w.plan), `${w.plan.role} ${w.plan.name}`, f));
    for (const l of lines) if (!this.reportedBindFailures.has(l)) this.log(l);
    for (const l of this.reportedBindFailures) if (l.startsWith(`${workloadOwner(w.plan)}: `) && !lines.includes(l)) this.reportedBindFailures.delete(l);
    for (const l of lines) this.reportedBindFailures.add(l);
  }

  get xdsAddress(): string {
    const { host } = hostPort(this.options.xdsAddress ?? "127.0.0.1:15010");
    return `${host}:${this.discovery.xdsPort}`;
  }

  /** Where 15012 listens: as asked, or the xDS address's host on port 15012. */
  private get secureXdsListenAddress(): string {
    return this.options.secureXdsAddress ?? `${hostPort(this.options.xdsAddress ?? "127.0.0.1:15010").host}:15012`;
  }

  /** The mesh CA (and xDS over TLS) address the agents dial. */
  get caAddress(): string {
    return `${hostPort(this.secureXdsListenAddress).host}:${this.discovery.secureXdsPort}`;
  }

  /** The mesh root bundle agents trust (istio-ca-root-cert), rewritten when the roots change. */
  get rootCertFile(): string {
    return this.discovery.security!.rootBundleFile;
  }

  /** The trust domain workload identities are issued in. */
  get trustDomain(): string {
    return this.discovery.security!.trustDomain;
  }

  get monitoringUrl(): string | undefined {
    if (this.options.monitoringAddress === "") return undefined;
    const { host } = hostPort(this.options.monitoringAddress ?? "127.0.0.1:15014");
    return `http://${host}:${this.discovery.monitoringPort}`;
  }

  /** Every workload, sorted by namespace/name. */
  list(): WorkloadStatus[] {
    return [...this.workloads.values()].sort((a, b) => a.plan.key.localeCompare(b.plan.key));
  }

  /** A workload by `name`, `namespace/name`, or address. */
  workload(nameOrAddress: string): WorkloadStatus | undefined {
    for (const w of this.workloads.values()) {
      if (w.plan.key === nameOrAddress || w.plan.name === nameOrAddress || w.plan.address === nameOrAddress) return w;
    }
    return undefined;
  }

  /** Starts the control plane and every workload; resolves when all are ready. */
  async start(): Promise<StartResult> {
    if (!existsSync(this.dir) || !statSync(this.dir).isDirectory()) throw new Error(`${this.options.dir}: no such folder`);
    for (const p of this.options.extraConfig ?? []) if (!existsSync(p)) throw new Error(`--config ${p}: no such file or folder`);
    if (this.options.meshConfigFile !== undefined && !existsSync(this.options.meshConfigFile)) throw new Error(`--mesh-config ${this.options.meshConfigFile}: no such file`);
    if (this.options.cacertsDir !== undefined && !existsSync(this.options.cacertsDir)) throw new Error(`--cacerts ${this.options.cacertsDir}: no such folder`);
    if (this.options.credentialsDir !== undefined && !existsSync(this.options.credentialsDir)) throw new Error(`--credentials-dir ${this.options.credentialsDir}: no such folder`);
    // Refused before anything starts: the flag asks for Prometheus, so no mesh without it.
    const prometheusBinary = this.options.prometheus ? findPrometheus() : undefined;
    if (prometheusBinary instanceof Error) throw prometheusBinary;
    // Like the workloads, Prometheus stays on 127.0.0.0/8 (appAddressFor answers only there).
    if (prometheusBinary !== undefined && appAddressFor(hostPort(this.prometheusAddress).host) === undefined) throw new Error(`--prometheus-address ${this.prometheusAddress}: use HOST:PORT with HOST in 127.0.0.0/8`);
    this.startedAt = Date.now();
    process.on("exit", this.onExit);
    try {
      await this.discovery.start();
    } catch (e) {
      const inUse = (e as { code?: string }).code === "EADDRINUSE" || /EADDRINUSE|address already in use/i.test((e as Error).message);
      if (inUse) throw new Error(`the control plane's address is in use (${this.options.xdsAddress ?? "127.0.0.1:15010"}, ${this.secureXdsListenAddress} or ${this.options.monitoringAddress ?? "127.0.0.1:15014"}): is another tsmesh up, tsmesh discovery or istiod running? (--xds-address, --secure-xds-address, --monitoring-address)`);
      throw e;
    }
    const security = this.discovery.security!;
    this.credentials = new WorkloadCredentials({ dir: security.credentialsDir, issue: (id) => security.issueCredential(id), log: this.log });
    this.log(`control plane  xDS ${this.xdsAddress}, xDS+CA (TLS) ${this.caAddress}${this.monitoringUrl ? `, monitoring ${this.monitoringUrl}` : ""}`);
    if (prometheusBinary !== undefined) this.startPrometheus(prometheusBinary);
    this.plan = this.computePlan();
    for (const p of this.plan.problems) this.log(`${p.workload}: ${p.message}`);
    if (this.plan.workloads.length === 0) this.log(`no WorkloadEntry with an address in 127.0.0.0/8 in ${this.options.dir}: nothing to run`);
    for (const w of this.plan.workloads) await this.launch(w);
    this.prometheusTargets();
    // From here edits apply at once, also to a workload that is still starting or failing.
    this.unsubscribe = this.discovery.store.subscribe((batch) => {
      for (const c of batch.changes) this.log(changeLine(c));
      for (const c of batch.configMaps ?? []) this.log(changeLine({ ...c, kind: "ConfigMap" }));
      if (batch.changes.some((c) => PLAN_KINDS.has(c.kind))) this.scheduleReconcile();
    });
    // A workload that is not ready in time is reported and retried; it does not hold the mesh back.
    const settled = (w: WorkloadStatus) => w.state !== "starting";
    const deadline = this.startedAt + this.readyTimeoutMs;
    while (!this.stopped && Date.now() < deadline && !this.list().every(settled)) await sleep(50);
    // Prometheus, like a workload, does not hold the mesh back: a crash loop is reported and backed off.
    await this.prometheus?.waitReady(this.readyTimeoutMs);
    return { readyAfterMs: Date.now() - this.startedAt, workloads: this.list() };
  }

  private get readyTimeoutMs(): number {
    return this.options.readyTimeoutMs ?? 30_000;
  }

  private computePlan(): MeshPlan {
    const store = this.discovery.store;
    const gatewayApi = [...store.list("KubernetesGateway"), ...store.list("GatewayClass"), ...store.list("ReferenceGrant")];
    const running = [...this.workloads.values()].map((w) => w.plan);
    return planMesh({ workloadEntries: store.list("WorkloadEntry"), serviceEntries: registryServiceEntries([...store.list("ServiceEntry"), ...store.list("Service")]), gateways: store.list("Gateway"), gatewayApi, running, environment: process.env });
  }

  private get prometheusAddress(): string {
    return this.options.prometheus?.address ?? DEFAULT_PROMETHEUS_ADDRESS;
  }

  private startPrometheus(binary: string): void {
    const o = this.options.prometheus!;
    const monitoring = this.monitoringUrl;
    this.prometheus = new LocalPrometheus(binary, {
      address: this.prometheusAddress,
      scrapeIntervalSeconds: o.scrapeIntervalSeconds,
      controlPlane: monitoring?.slice("http://".length),
      dir: join(this.stateDir, "prometheus"),
      logFile: join(this.logDir, "prometheus.log"),
      restartBackoffMs: this.options.restartBackoffMs,
      clock: this.options.clock,
      log: this.log,
    });
    this.prometheus.start();
  }

  /** Prometheus' proxy targets follow the running workloads. */
  private prometheusTargets(): void {
    this.prometheus?.setWorkloads([...this.workloads.values()].map((w) => w.plan));
  }

  private discoveryLog(line: string): void {
    appendFileSync(join(this.logDir, "discovery.log"), line + "\n");
    // Config errors, CA refusals and CA reloads matter to the person at the console; connection
    // chatter and each certificate issued stay in the file.
    if (line.startsWith("discovery:") || (line.startsWith("ca:") && !line.startsWith("ca: issued"))) this.log(line);
  }

  /** A workload's process crashed or was failed: reported once per kind of failure (console-lines.ts). */
  private workloadCrashed(w: WorkloadStatus, r: CrashReport, logFile: string): void {
    if (this.workloads.get(w.plan.key) !== w) return;
    w.state = "failing";
    const { failure, text } = failureReport(w.reportedFailure, r, logFile, this.readyTimeoutMs);
    w.reportedFailure = failure;
    if (text) this.log(text);
  }

  private async launch(plan: PlannedWorkload): Promise<WorkloadStatus> {
    const base = sanitize(`${plan.namespace}.${plan.name}`);
    const spawnErrors = new Set<string>();
    const supervisorOptions = {
      initialBackoffMs: this.options.restartBackoffMs,
      clock: this.options.clock,
      // Once per workload: a missing program stays missing until its WorkloadEntry changes.
      onSpawnError: (name: string, e: Error) => {
        if (spawnErrors.has(e.message)) return;
        spawnErrors.add(e.message);
        this.log(`${name}: cannot start: ${e.message}`);
      },
    };
    const childEnv = { ...process.env, TSMESH_EXIT_WITH_PARENT: "1" };
    // The workload's credential, for its namespace and service account (Kubernetes' "default" when unset).
    const credentialFile = await this.credentials!.write(plan.key, { namespace: plan.namespace, serviceAccount: plan.serviceAccount ?? "default" });
    // stop() may have begun meanwhile (Ctrl-C while starting): start nothing it would not stop.
    if (this.stopped) {
      this.credentials?.remove(plan.key);
      throw new Error("the mesh is stopping");
    }
    // With 15012 turned off (--secure-xds-address "") the proxies run without an agent.
    const identity = this.discovery.secureXdsPort === 0 ? undefined : { caAddress: this.caAddress, rootCertFile: this.rootCertFile, credentialFile, trustDomain: this.trustDomain, certTtl: this.options.workloadCertTtl };
    const proxyArgs = proxyCommandArgs(plan, { tsmeshBin: this.tsmeshBin, xdsAddress: this.xdsAddress, concurrency: this.options.proxyConcurrency ?? 1, identity });
    const status: WorkloadStatus = {
      plan,
      credentialFile,
      state: "starting",
      launchedAt: Date.now(),
      proxy: new SupervisedProcess(
        { name: `${plan.name} ${plan.role === "router" ? "gateway" : "sidecar"}`, file: process.execPath, args: proxyArgs, env: childEnv, cwd: this.dir, logFile: join(this.logDir, `${base}.proxy.log`) },
        { ...supervisorOptions, onCrash: (r) => this.workloadCrashed(status, r, status.proxy.spec.logFile) },
      ),
    };
    if (plan.command && plan.appAddress) {
      const program = resolveProgram(plan.command.argv, this.tsmeshBin);
      // Where the app listens (its private address, on its service ports: the sidecar owns the
      // workload address), outbound through the sidecar (HTTP_PROXY), Kubernetes' downward API.
      const env: Record<string, string | undefined> = { ...childEnv, ...plan.appEnv, ...plan.command.env };
      status.app = new SupervisedProcess(
        { name: `${plan.name} app`, file: program.file, args: program.args, env, cwd: this.appCwd(plan), logFile: join(this.logDir, `${base}.app.log`) },
        { ...supervisorOptions, onCrash: (r) => this.workloadCrashed(status, r, status.app!.spec.logFile) },
      );
    }
    this.workloads.set(plan.key, status);
    status.proxy.start();
    status.app?.start();
    void this.watchReadiness(status);
    return status;
  }

  /** Where the app runs: app-dir.ts (the WorkloadEntry's config folder, else its own folder in the state folder). */
  private appCwd(plan: PlannedWorkload): string {
    const source = this.discovery.store.sourceOf("WorkloadEntry", plan.namespace, plan.name);
    const configPath = source === undefined ? undefined : this.discovery.configPathOf(source);
    return appWorkingDir({ configPath, stateDir: this.stateDir, namespace: plan.namespace, name: plan.name });
  }

  /** Whether a workload's proxy reports ready and its app accepts connections on every port. */
  async isReady(w: WorkloadStatus): Promise<boolean> {
    if ((await httpStatus(`http://${w.plan.address}:${HEALTH_PORT}/healthz/ready`)) !== 200) return false;
    if (w.app && w.plan.appAddress) {
      for (const p of w.plan.ports) if (!(await canConnect(w.plan.appAddress, p.port))) return false;
    }
    return true;
  }

  /**
   * Follows a workload for as long as it is in the mesh: reports it ready (times from its own
   * launch) or recovered, and fails a process that is up but not ready within the ready timeout
   * (the supervisor restarts it with backoff).
   */
  private async watchReadiness(w: WorkloadStatus): Promise<void> {
    const current = () => !this.stopped && this.workloads.get(w.plan.key) === w;
    while (current()) {
      // Once ready, a crash (workloadCrashed) is what makes it unready again: no probing meanwhile.
      if (w.state === "ready") {
        await sleep(200);
        continue;
      }
      const processes = [w.proxy, w.app].filter((p): p is SupervisedProcess => p !== undefined);
      const ready = processes.every((p) => p.running) && (await this.isReady(w));
      if (!current()) return;
      if (ready) {
        const what = w.plan.role === "router" ? "gateway" : w.app ? "sidecar+app" : "sidecar";
        if (w.readyAfterMs === undefined) {
          w.readyAfterMs = Date.now() - w.launchedAt;
          this.log(readyLine(what, w.plan.key, w.plan.address, w.readyAfterMs));
        } else if (w.state === "failing") {
          this.log(readyLine(what, w.plan.key, w.plan.address, "recovered"));
        }
        w.state = "ready";
        w.reportedFailure = undefined;
      } else if (!ready && processes.every((p) => p.running)) {
        // Up but not ready: past the timeout since the latest start, the process at fault is failed.
        const since = Math.max(...processes.map((p) => p.startedAt));
        if ((this.options.clock ?? Date).now() - since > this.readyTimeoutMs) {
          const proxyReady = (await httpStatus(`http://${w.plan.address}:${HEALTH_PORT}/healthz/ready`)) === 200;
          (proxyReady && w.app ? w.app : w.proxy).fail();
        }
      }
      await sleep(100);
    }
  }

  private scheduleReconcile(): void {
    if (this.reconcileTimer || this.stopped) return;
    this.reconcileTimer = setTimeout(() => {
      this.reconcileTimer = undefined;
      void this.reconcile().catch((e: unknown) => {
        if (!this.stopped) this.log(`reconcile failed: ${(e as Error).message}`);
      });
    }, 50);
  }

  /** Starts, restarts and stops workloads so the running set matches the config (one pass at a time). */
  reconcile(): Promise<void> {
    const next = this.reconciling.then(() => this.reconcileOnce());
    this.reconciling = next.catch(() => {});
    return next;
  }

  private async reconcileOnce(): Promise<void> {
    if (this.stopped) return;
    const next = this.computePlan();
    const problems = next.problems.filter((p) => !this.plan.problems.some((q) => q.workload === p.workload && q.message === p.message));
    for (const p of problems) this.log(`${p.workload}: ${p.message}`);
    this.plan = next;
    const wanted = new Map(next.workloads.map((w) => [w.key, w]));
    const stops: Promise<void>[] = [];
    for (const [key, w] of this.workloads) {
      const plan = wanted.get(key);
      if (plan && sameWorkload(plan, w.plan)) {
        w.plan = plan; // gateway URLs may have changed
        continue;
      }
      this.workloads.delete(key);
      this.log(`${plan ? "restarting" : "stopping"} ${key}`);
      stops.push(this.stopWorkload(w));
    }
    await Promise.all(stops);
    let started = 0;
    for (const [key, plan] of wanted) {
      if (this.workloads.has(key) || this.stopped) continue;
      this.log(`starting ${key} (${plan.role}) on ${plan.address}`);
      await this.launch(plan);
      started++;
    }
    if (stops.length > 0 || started > 0) this.prometheusTargets();
  }

  private async stopWorkload(w: WorkloadStatus): Promise<void> {
    await Promise.all([w.proxy.stop(7000), w.app?.stop(5000)]);
    // A restarted workload has already been given a new one under the same key.
    if (!this.workloads.has(w.plan.key)) this.credentials?.remove(w.plan.key);
  }

  /** Drains and stops every process, then the control plane. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe?.();
    if (this.reconcileTimer) clearTimeout(this.reconcileTimer);
    // A reconcile under way may be launching a workload: let it finish so that one is stopped too.
    await this.reconciling;
    await Promise.all([...this.workloads.values()].map((w) => this.stopWorkload(w)));
    await this.prometheus?.stop();
    this.credentials?.close();
    await this.discovery.close();
    process.off("exit", this.onExit);
  }

  private killAll(): void {
    this.prometheus?.killNow();
    for (const w of this.workloads.values()) {
      w.proxy.killNow();
      w.app?.killNow();
    }
  }

  /** Resolves when the config has reached every proxy (see Discovery.converged), or rejects after timeoutMs. */
  async converged(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await this.discovery.converged()) return;
      if (Date.now() > deadline) throw new Error(`config did not converge within ${timeoutMs} ms`);
      await sleep(20);
    }
  }
}
