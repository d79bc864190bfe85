// `tsmesh discovery`: istiod's Pilot role wired together. Config folders (watched) feed the
// store; store changes are debounced into pushes; a full push builds a new PushContext, an
// endpoints-only change (WorkloadEntries only, services unchanged) takes the incremental EDS path;
// routes a push leaves out while merging delegate VirtualServices are logged when they appear.
// Mesh config (MeshConfig) comes, as in istiod, from a file (`--mesh-config`, istiod's
// `--meshConfig`) when one is given, otherwise from the `istio` ConfigMap in istio-system found in
// the config folders; either is watched, and a change is a full push. Bad mesh config is logged and
// the last good one keeps serving. Gateway (and DestinationRule) `credentialName` secrets come from a
// watched credentials folder (`--credentials-dir`); a credential change pushes only the Secret type,
// only to the proxies that watch it, without rebuilding the PushContext. JWKS that istiod fetches for
// RequestAuthentications come from its resolver (jwks-resolver.ts); a fetched change is a push of the
// proxies those policies apply to.
import { statSync } from "node:fs";
import { notEnforcedDiagnostic, summarizeNotEnforced, type NotEnforcedUse } from "../api/enforcement.js";
import { resourceKey, resourceName, type AnyResource } from "../api/resource.js";
import { sourcePosition } from "../api/format.js";
import { CredentialsFolder, type CredentialReport } from "../config/credentials.js";
import { DirectorySource, type FileReport } from "../config/directory.js";
import { ConfigStore, type ChangeBatch } from "../config/store.js";
import { MetricsRegistry } from "../core/metrics.js";
import { displayPath } from "../config/files.js";
import { PushContext, pushInputFrom, type MeshConfig } from "../model/push-context.js";
import type { WorkloadEndpoint } from "../registry/model.js";
import { changedEndpointHosts, ServiceRegistry } from "../registry/registry.js";
import { hostMatches, resolveShortName } from "../api/hosts.js";
import { outboundClusterName } from "../xds/gen/names.js";
import { AdsServer } from "../xds/server/ads.js";
import { Debouncer } from "../xds/server/debounce.js";
import type { PushRequest } from "../xds/server/types.js";
import { jwksUriOf, type JwksFetchMode } from "../model/request-authentication.js";
import { WorkloadAutoRegistration } from "./autoregistration.js";
import { JwksResolver } from "./jwks-resolver.js";
import { IstioGenerator, SECRET_KIND, type ConnectedProxy } from "./generator.js";
import { InboundUpdates } from "./inbound-updates.js";
import { authorizationWarnings } from "../xds/gen/policy-filters.js";
import { describeMesh, MESH_CONFIGMAP_KEY, MESH_CONFIGMAP_NAME, MESH_CONFIGMAP_NAMESPACE, MeshConfigError, meshFrom, parseMeshConfig, readMeshConfigFile } from "./mesh-config.js";
import { MonitoringServer } from "./monitoring.js";
import { startMeshApi, type MeshApi } from "./mesh-api.js";
import { ControlPlaneSecurity } from "./security.js";
import type { CaKeyType } from "../security/ca.js";

export interface DiscoveryOptions {
  /** Folders or files of Istio YAML, lowest priority first (later ones override). */
  configPaths: readonly string[];
  /** ADS listen address (istiod's plaintext 15010). */
  xdsAddress?: string;
  /** /metrics, /ready and /debug/* (istiod's 15014); "" disables it. */
  monitoringAddress?: string;
  /** Mesh config defaults set by the program (tests); the file or ConfigMap applies on top. */
  mesh?: Partial<MeshConfig>;
  /**
   * Istio's mesh config YAML (istiod's --meshConfig). When given, it is the mesh config and the
   * `istio` ConfigMap is ignored, as istiod ignores the ConfigMap when its mesh file exists.
   */
  meshConfigFile?: string;
  /** How often the mesh config file is checked for changes (ms; default 500). */
  meshConfigPollMs?: number;
  /** Debounce window (istiod: 100 ms quiet, 10 s max). */
  debounceQuietMs?: number;
  debounceMaxMs?: number;
  /**
   * The credentials folder (credentialName secrets; layout in config/credential-files.ts). Watched
   * unless `watch` is false. Absent: proxies that ask for a credential get none.
   */
  credentialsDir?: string;
  /** How long an auto-registered WorkloadEntry outlives its proxy's connection (istiod: 10 s). */
  workloadEntryGraceMs?: number;
  /** Watch the config paths for changes (default true). */
  watch?: boolean;
  /**
   * The state folder (Citadel's role): the self-signed mesh CA, the workload credential key and the
   * root bundle file. With it (or cacertsDir) the mesh CA runs and 15012 is served; without both, no CA.
   */
  stateDir?: string;
  /** Istio's plug-in CA folder (`cacerts`: ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem), watched. */
  cacertsDir?: string;
  /** The self-signed root's key type (default EC P-256); a stored root of another type is refused. */
  caKeyType?: CaKeyType;
  /** gRPC with TLS: xDS and the CA (istiod's 15012; default 127.0.0.1:15012); "" serves neither. */
  secureXdsAddress?: string;
  /** How often the cacerts folder is checked for changes (ms; default 1000). */
  cacertsPollMs?: number;
  /** Who fetches RequestAuthentication jwksUri (istiod's PILOT_JWT_ENABLE_REMOTE_JWKS; default hybrid). */
  jwksFetchMode?: JwksFetchMode;
  log?: (line: string) => void;
}

export class Discovery {
  readonly store = new ConfigStore();
  readonly metrics = new MetricsRegistry();
  readonly generator = new IstioGenerator();
  readonly server: AdsServer<ConnectedProxy>;
  private currentMesh: MeshConfig;
  /** The mesh config's origin: "defaults", the file, or "FILE: ConfigMap istio-system/istio". */
  private currentMeshSource = "defaults";
  /** The last good overlay read from the file or the ConfigMap. */
  private meshOverlay: Partial<MeshConfig> | undefined;
  /** The text last applied (or rejected), so re-saves and unrelated batches change nothing. */
  private meshText: string | undefined;
  private meshFilePoll: NodeJS.Timeout | undefined;
  private ignoredConfigMapReported = false;
  /** What the mesh config in effect uses that is not enforced, as last logged ("" for nothing). */
  private meshNotEnforcedShown = "";
  /**
   * Per file, per resource: what it uses that is not enforced, as last logged. A resource is
   * logged when it loads and again only when that changes, never on every rescan or push.
   */
  private readonly notEnforcedShown = new Map<string, Map<string, string>>();
  /** Routes the last push left out while merging delegate VirtualServices, and PeerAuthentications it ignores, as last logged. */
  private virtualServiceErrorsShown: ReadonlySet<string> = new Set();
  readonly autoRegistration: WorkloadAutoRegistration;
  private readonly sources: DirectorySource[] = [];
  /** The credentials folder, when one is configured. */
  credentials: CredentialsFolder | undefined;
  private readonly debouncer: Debouncer;
  private readonly inbound: InboundUpdates;
  /** istiod's JwtKeyResolver: JWKS fetched by the control plane, inlined into jwt_authn. */
  readonly jwksResolver: JwksResolver;
  private monitoring: MonitoringServer | undefined;
  private unsubscribe: (() => void) | undefined;
  private current: PushContext;
  private readonly log: (line: string) => void;
  private readonly rejectedConfigs = this.metrics.counter("pilot_total_rejected_configs", "Total number of configs that Pilot had to reject or ignore.");
  private readonly pushContextErrors = this.metrics.counter("pilot_xds_push_context_errors", "Number of errors (timeouts) initiating push context.");
  private readonly fullPushes = this.metrics.counter("pilot_push_full", "Full pushes by the discovery server (tsmesh).");
  private readonly edsPushes = this.metrics.counter("pilot_push_eds_incremental", "Endpoint-only (incremental) pushes (tsmesh).");
  private readonly sdsErrors = this.metrics.counter("pilot_sds_certificate_errors_total", "Total number of failures to fetch SDS key and certificate.");
  xdsPort = 0;
  monitoringPort = 0;
  /** The bound port of 15012 (xDS and the CA over TLS), 0 when not served. */
  secureXdsPort = 0;
  /** The mesh CA and its servers, when a state folder or cacerts folder is given. */
  security: ControlPlaneSecurity | undefined;
  private started = false;
  /** The applied layer and the mesh API on STATE_DIR/api.sock, when there is a state folder. */
  meshApi: MeshApi | undefined;
  /** WorkloadEntries ("ns/name") changed since the last push (the incremental path checks only these). */
  private changedWorkloads = new Set<string>();

  constructor(private readonly options: DiscoveryOptions) {
    this.currentMesh = meshFrom(options.mesh);
    this.log = options.log ?? ((l) => process.stderr.write(l + "\n"));
    this.server = new AdsServer(this.generator, {
      metrics: this.metrics,
      log: this.log,
      // The caller's workload credential, when it sends one: gateway credentials need it (istiod's VerifiedIdentity).
      authenticate: (md) => this.security?.authenticateCall(md) ?? Promise.resolve(undefined),
    });
    this.debouncer = new Debouncer((req) => this.flush(req), {
      quietMs: options.debounceQuietMs ?? 100,
      maxMs: options.debounceMaxMs ?? 10_000,
      onError: (e) => {
        this.pushContextErrors.inc();
        this.log(`discovery: push failed: ${(e as Error).stack ?? String(e)}`);
      },
      onFlushed: (ms) => this.server.metrics.debounceTime.observe(ms / 1000),
    });
    this.inbound = new InboundUpdates(this.server.metrics.inboundUpdates, this.store);
    this.autoRegistration = new WorkloadAutoRegistration(this.store, { graceMs: options.workloadEntryGraceMs, log: this.log });
    this.generator.lifecycle = this.autoRegistration;
    this.generator.onSecretError = (message) => {
      this.sdsErrors.inc();
      this.log(`discovery: ${message}`);
    };
    this.jwksResolver = new JwksResolver({ metrics: this.metrics, log: (l) => this.log(`discovery: ${l}`), onChange: (c) => this.pushJwksChange(c) });
    this.generator.onEnvoyFilterError = (message) => this.log(`discovery: ${message}`);
    this.current = new PushContext(pushInputFrom([]), this.mesh);
    const services = this.metrics.gauge("pilot_services", "Total services known to pilot.");
    services.collect(() => [[undefined, this.current.registry.services.length]]);
    const vs = this.metrics.gauge("pilot_virt_services", "Total virtual services known to pilot.");
    vs.collect(() => [[undefined, this.current.input.virtualServices.length]]);
    const dr = this.metrics.gauge("pilot_destrule_subsets", "Duplicate subsets across destination rules for same host (tsmesh: total subsets).");
    dr.collect(() => [[undefined, this.current.input.destinationRules.reduce((n, d) => n + (d.spec.subsets?.length ?? 0), 0)]]);
  }

  /** The mesh config in effect. */
  get mesh(): MeshConfig {
    return this.currentMesh;
  }

  /** Where the mesh config in effect came from. */
  get meshSource(): string {
    return this.currentMeshSource;
  }

  /** The config folder (or file) behind a store source id; undefined for sources with none (applied, auto-registered). */
  configPathOf(source: string): string | undefined {
    return this.sources.find((s) => s.id === source)?.path;
  }

  /** The snapshot the last push used. */
  get pushContext(): PushContext {
    return this.current;
  }

  /** Loads config, starts serving ADS and monitoring; returns the bound ports. */
  async start(): Promise<{ xdsPort: number; monitoringPort: number }> {
    const file = this.options.meshConfigFile;
    if (file !== undefined) {
      // A bad file at start is fatal (istiod's --meshConfig); later edits keep the last good one.
      const uses: NotEnforcedUse[] = [];
      this.setMesh(readMeshConfigFile(file, displayPath(file), uses), displayPath(file));
      this.reportMeshNotEnforced(displayPath(file), uses);
      this.watchMeshFile(file);
    }
    this.options.configPaths.forEach((path, i) => {
      const src = new DirectorySource(path, this.store, { id: `config:${i}:${path}`, priority: i, onReport: (r) => this.report(r) });
      this.sources.push(src);
    });
    // Every file's outcome reaches report() through onReport (start's own list would repeat it).
    for (const src of this.sources) {
      if (this.options.watch === false) src.load();
      else src.start();
    }
    if (this.options.credentialsDir !== undefined) this.startCredentials(this.options.credentialsDir);
    // The applied layer (tsmesh apply) is restored before the first push.
    if (this.options.stateDir !== undefined) this.meshApi = startMeshApi(this, this.options.stateDir, this.sources, this.log, this.options.meshConfigFile);
    this.refreshMeshFromConfigMap();
    this.current = this.buildPushContext();
    this.inbound.baseline(this.current.registry);
    this.generator.beginPush(this.current, { full: true });
    this.server.setContext({ full: true, reasons: ["initial"], start: Date.now(), context: this.current });
    this.unsubscribe = this.store.subscribe((batch) => this.onStoreChange(batch));
    this.xdsPort = await this.server.listen(this.options.xdsAddress ?? "127.0.0.1:15010");
    await this.startSecurity();
    if (this.options.monitoringAddress !== "") {
      this.monitoring = new MonitoringServer(this);
      this.monitoringPort = await this.monitoring.listen(this.options.monitoringAddress ?? "127.0.0.1:15014");
    }
    await this.meshApi?.server.listen();
    this.started = true;
    return { xdsPort: this.xdsPort, monitoringPort: this.monitoringPort };
  }

  private async startSecurity(): Promise<void> {
    const { stateDir, cacertsDir } = this.options;
    if (stateDir === undefined) {
      if (cacertsDir !== undefined) throw new Error(`a plug-in CA (${cacertsDir}) needs a state folder for the workload credential key and the root bundle file`);
      return;
    }
    this.security = await ControlPlaneSecurity.start({
      stateDir,
      cacertsDir,
      trustDomain: this.mesh.trustDomain,
      keyType: this.options.caKeyType,
      cacertsPollMs: this.options.watch === false ? 0 : this.options.cacertsPollMs,
      metrics: this.metrics,
      log: this.log,
    });
    // With a CA, a proxy reads credentialName secrets only on a stream that proved its namespace.
    this.generator.requireVerifiedIdentity = true;
    const address = this.options.secureXdsAddress ?? "127.0.0.1:15012";
    if (address !== "") this.secureXdsPort = await this.security.listen(address, this.server as AdsServer<unknown>);
  }

  get ready(): boolean {
    return this.started;
  }

  /**
   * Whether config has settled everywhere: no change waiting in the debouncer, no push queued or in
   * flight, and every connected proxy has answered (ACK or NACK) the last response of each type.
   */
  async converged(): Promise<boolean> {
    if (this.debouncer.hasPending) return false;
    const idle = await Promise.race([this.server.idle().then(() => true), new Promise<boolean>((r) => setImmediate(() => r(false)))]);
    if (!idle || this.debouncer.hasPending) return false;
    for (const c of this.server.connections()) {
      for (const t of c.types) {
        if (!t.sentNonce) continue;
        if (t.sentNonce !== t.ackedNonce && t.sentNonce !== t.nack?.nonce) return false;
      }
    }
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.meshFilePoll);
    this.unsubscribe?.();
    this.debouncer.close();
    this.autoRegistration.close();
    for (const s of this.sources) s.close();
    this.credentials?.close();
    this.jwksResolver.close();
    await Promise.all([this.server.close(), this.monitoring?.close(), this.meshApi?.server.close()]);
    await this.security?.close();
  }

  private report(r: FileReport): void {
    this.reportNotEnforced(r);
    // Kubernetes kinds skipped (a Deployment beside its Service): one line each as the file changes.
    for (const doc of r.results) for (const d of doc.diagnostics) if (d.code === "TSMESH_NOT_READ") this.log(`discovery: ${r.file}:${doc.line} ${doc.kind} ${doc.namespace}/${doc.name}: ${d.message} [${d.code}]`);
    if (r.status !== "rejected") return;
    // One line per rejected document: its first error, at the field's line.
    for (const doc of r.results) {
      const errors = doc.diagnostics.filter((d) => d.severity === "error");
      const d = errors[0];
      if (d) {
        const what = doc.kind && doc.name ? ` ${doc.kind} ${doc.namespace ?? "default"}/${doc.name}` : "";
        const more = errors.length > 1 ? ` (and ${errors.length - 1} more: tsmesh validate ${r.file})` : "";
        this.log(`discovery: ${sourcePosition({ ...doc, file: r.file }, d.path)}${what}: ${d.path ? d.path + ": " : ""}${d.message} [${d.code}]${more}${r.keptLastGood ? " (last good version kept)" : ""}`);
      }
      if (!doc.valid) this.rejectedConfigs.inc();
    }
  }

  private startCredentials(dir: string): void {
    const folder = new CredentialsFolder(dir, {
      onReport: (r) => this.reportCredential(r),
      // istiod's secret handler: a push of the Secret kind naming what changed.
      onChange: (changed) =>
        this.configUpdate({
          full: true,
          configKinds: new Set([SECRET_KIND]),
          configsUpdated: new Set([...changed].map((k) => `${SECRET_KIND}/${k}`)),
          reasons: ["secret"],
          start: Date.now(),
          context: undefined,
        }),
    });
    this.credentials = folder;
    this.generator.credentials = folder;
    if (this.options.watch === false) folder.load();
    else folder.start();
  }

  /** One line per credential that is served anew, rejected, removed or a stray file (never key material). */
  private reportCredential(r: CredentialReport): void {
    switch (r.status) {
      case "applied":
        this.log(`discovery: credential ${r.credential} from ${r.file}: served`);
        break;
      case "rejected":
        this.rejectedConfigs.inc();
        this.log(`discovery: credential ${r.credential}: ${r.message}${r.keptLastGood ? " (last good copy kept)" : " (not served)"}`);
        break;
      case "removed":
        this.log(`discovery: credential ${r.credential} removed`);
        break;
      case "ignored":
        this.log(`discovery: credentials: ${r.file}: ${r.message}`);
        break;
    }
    for (const w of r.warnings) this.log(`discovery: credential ${r.credential}: ${w} (served anyway, as Istio does)`);
  }

  /** One line per resource of an applied file that uses what is not enforced (when new or changed). */
  private reportNotEnforced(r: FileReport): void {
    if (r.status === "rejected") return; // the last good version stays in force, and so do its lines
    const before = this.notEnforcedShown.get(r.file);
    const now = new Map<string, string>();
    for (const doc of r.results) {
      const res = doc.resource;
      const summary = res ? summarizeNotEnforced(doc.diagnostics) : "";
      if (!res || !summary) continue;
      const key = resourceKey(res.kind, res.metadata.namespace, res.metadata.name);
      now.set(key, summary);
      if (before?.get(key) !== summary) this.log(`discovery: ${r.file}:${doc.line} ${resourceName(res)}: ${summary} [TSMESH_NOT_ENFORCED]`);
    }
    if (now.size > 0) this.notEnforcedShown.set(r.file, now);
    else this.notEnforcedShown.delete(r.file);
  }

  /** Logs what the mesh config now in effect uses that is not enforced (when that changed). */
  private reportMeshNotEnforced(source: string, uses: readonly NotEnforcedUse[]): void {
    const summary = summarizeNotEnforced(uses.map((u) => notEnforcedDiagnostic(u)));
    if (summary !== this.meshNotEnforcedShown && summary) this.log(`discovery: ${source}: ${summary} [TSMESH_NOT_ENFORCED]`);
    this.meshNotEnforcedShown = summary;
  }

  private buildPushContext(): PushContext {
    const t0 = performance.now();
    const push = new PushContext(pushInputFrom(this.store.list() as AnyResource[]), this.currentMesh);
    push.jwks = { mode: this.options.jwksFetchMode ?? "hybrid", resolver: this.jwksResolver };
    this.reportPushWarnings(push);
    this.server.metrics.pushContextInitTime.observe((performance.now() - t0) / 1000);
    return push;
  }

  /** istiod's ConfigUpdate: a push request enters debouncing. */
  private configUpdate(req: PushRequest): void {
    this.inbound.config();
    this.debouncer.add(req);
  }

  /**
   * Logs each route a push leaves out while merging delegate VirtualServices (missing, not exported,
   * conflicting) and each PeerAuthentication it ignores (an older one of the same namespace, a
   * selector in the root namespace): once when it appears, not again on every push while it lasts.
   */
  private reportPushWarnings(push: PushContext): void {
    const now = new Set([...push.virtualServiceErrors, ...push.authnPolicies.warnings, ...authorizationWarnings(push)]);
    for (const e of now) if (!this.virtualServiceErrorsShown.has(e)) this.log(`discovery: ${e}`);
    this.virtualServiceErrorsShown = now;
  }

  /** Applies a new mesh overlay; true when the effective mesh config changed. */
  private setMesh(overlay: Partial<MeshConfig> | undefined, source: string): boolean {
    const next = meshFrom(this.options.mesh, overlay);
    this.meshOverlay = overlay;
    const changed = JSON.stringify(next) !== JSON.stringify(this.currentMesh);
    if (next.trustDomain !== this.currentMesh.trustDomain) this.security?.meshTrustDomainChanged(next.trustDomain);
    this.currentMesh = next;
    this.currentMeshSource = overlay ? source : "defaults";
    if (changed || this.started) this.log(`discovery: mesh config from ${this.currentMeshSource}: ${describeMesh(next)}`);
    return changed;
  }

  private meshError(e: unknown): void {
    const lines = e instanceof MeshConfigError ? e.message.split("\n") : [String((e as Error).message ?? e)];
    for (const l of lines) this.log(`discovery: ${l}${this.meshOverlay ? " (last good mesh config kept)" : " (mesh config defaults kept)"}`);
    this.rejectedConfigs.inc();
  }

  /** istiod's file watcher: re-reads the mesh file when it changes; a bad edit keeps the last good config. */
  private watchMeshFile(file: string): void {
    if (this.options.watch === false) return;
    const stamp = () => {
      try {
        const st = statSync(file);
        return `${st.mtimeMs}/${st.size}/${st.ino}`;
      } catch {
        return "gone";
      }
    };
    // The baseline is taken now, right after the load, so an edit that follows at once is seen.
    let last = stamp();
    this.meshFilePoll = setInterval(() => {
      const now = stamp();
      if (now === last) return;
      last = now;
      let overlay: Partial<MeshConfig>;
      const uses: NotEnforcedUse[] = [];
      try {
        overlay = readMeshConfigFile(file, displayPath(file), uses);
      } catch (e) {
        this.meshError(e);
        return;
      }
      this.reportMeshNotEnforced(displayPath(file), uses);
      if (this.setMesh(overlay, displayPath(file))) this.pushMeshChange();
    }, this.options.meshConfigPollMs ?? 500);
    this.meshFilePoll.unref();
  }

  /**
   * Reads the `istio` ConfigMap's data.mesh (when no mesh file is given). Returns true when the
   * effective mesh config changed.
   */
  private refreshMeshFromConfigMap(): boolean {
    const cm = this.store.getConfigMap(MESH_CONFIGMAP_NAMESPACE, MESH_CONFIGMAP_NAME);
    const where = cm ? `${cm.source?.file ?? "?"}: ConfigMap ${MESH_CONFIGMAP_NAMESPACE}/${MESH_CONFIGMAP_NAME}` : "";
    if (this.options.meshConfigFile !== undefined) {
      if (cm && !this.ignoredConfigMapReported) {
        this.ignoredConfigMapReported = true;
        this.log(`discovery: ${where} is ignored: the mesh config comes from --mesh-config ${displayPath(this.options.meshConfigFile)} (as istiod ignores the ConfigMap when its mesh file exists)`);
      }
      return false;
    }
    const text = cm?.data[MESH_CONFIGMAP_KEY];
    if (text === undefined) {
      if (cm && this.meshText !== "") this.log(`discovery: ${where} has no data.${MESH_CONFIGMAP_KEY}: mesh config defaults apply`);
      const had = this.meshText !== undefined;
      this.meshText = cm ? "" : undefined;
      this.reportMeshNotEnforced(where, []);
      return had ? this.setMesh(undefined, "defaults") : false;
    }
    if (text === this.meshText) return false;
    this.meshText = text;
    let overlay: Partial<MeshConfig>;
    const uses: NotEnforcedUse[] = [];
    try {
      overlay = parseMeshConfig(text, `${where}: data.${MESH_CONFIGMAP_KEY}`, uses);
    } catch (e) {
      this.meshError(e);
      return false;
    }
    this.reportMeshNotEnforced(`${where}: data.${MESH_CONFIGMAP_KEY}`, uses);
    return this.setMesh(overlay, where);
  }

  /**
   * A JWKS istiod fetched changed (istiod's JwtKeyResolver.PushFunc): a full push (the inlined keys
   * are in listeners), reaching only proxies that one of the policies naming it applies to.
   */
  private pushJwksChange(changed: ReadonlyArray<{ issuer: string; jwksUri: string }>): void {
    const updated = new Set<string>();
    for (const ra of this.current.input.requestAuthentications) {
      const names = (ra.spec.jwtRules ?? []).some((r) => changed.some((c) => (r.issuer ?? "") === c.issuer && jwksUriOf(r) === c.jwksUri && !r.jwks));
      if (names) updated.add(`RequestAuthentication/${ra.metadata.namespace}/${ra.metadata.name}`);
    }
    if (updated.size === 0) return;
    this.configUpdate({ full: true, configKinds: new Set(["RequestAuthentication"]), configsUpdated: updated, reasons: ["jwks"], start: Date.now(), context: undefined });
  }

  /** A mesh config change: every proxy's config may change (istiod's GlobalUpdate). */
  private pushMeshChange(): void {
    this.configUpdate({ full: true, configKinds: new Set(), reasons: ["global"], start: Date.now(), context: undefined });
  }

  private onStoreChange(batch: ChangeBatch): void {
    const meshTouched = batch.configMaps?.some((c) => c.namespace === MESH_CONFIGMAP_NAMESPACE && c.name === MESH_CONFIGMAP_NAME) ?? false;
    const meshChanged = meshTouched && this.refreshMeshFromConfigMap();
    if (batch.changes.length === 0) {
      if (meshChanged) this.pushMeshChange();
      return;
    }
    if (meshChanged) this.pushMeshChange();
    if (batch.changes.some((c) => c.kind === "ServiceEntry" || c.kind === "Service" || c.kind === "WorkloadEntry")) this.inbound.registryChanged();
    const endpointsOnly = batch.changes.every((c) => c.kind === "WorkloadEntry");
    for (const c of batch.changes) if (c.kind === "WorkloadEntry") this.changedWorkloads.add(`${c.namespace}/${c.name}`);
    this.configUpdate({
      full: !endpointsOnly,
      configKinds: new Set(batch.changes.map((c) => c.kind)),
      reasons: [endpointsOnly ? "endpoint" : "config"],
      start: Date.now(),
      context: undefined,
    });
  }

  /** Debounced: builds the next snapshot and hands it to the ADS server. */
  private flush(req: PushRequest): void {
    // Credentials are not in the PushContext: the current snapshot serves their push.
    if (req.full && req.configKinds?.size === 1 && req.configKinds.has(SECRET_KIND)) {
      this.fullPushes.inc();
      this.server.push({ ...req, context: this.current });
      return;
    }
    if (!req.full) {
      const incremental = this.incrementalEndpoints();
      if (incremental) {
        const { push, hosts, clusters } = incremental;
        if (hosts.size === 0) return;
        this.current = push;
        this.generator.beginPush(push, { full: false }, hosts);
        this.edsPushes.inc();
        this.server.push({ ...req, full: false, edsUpdates: clusters, context: push });
        return;
      }
    }
    this.changedWorkloads = new Set();
    this.current = this.buildPushContext();
    this.generator.beginPush(this.current, { full: true });
    this.fullPushes.inc();
    this.server.push({ ...req, full: true, edsUpdates: undefined, context: this.current });
  }

  /**
   * The incremental EDS path: valid when only endpoints moved (services unchanged) and no connected
   * proxy's own workload changed (its inbound config and labels would change: full push).
   */
  private incrementalEndpoints(): { push: PushContext; hosts: Set<string>; clusters: Set<string> } | undefined {
    const workloadEntries = this.store.list("WorkloadEntry");
    const registry = new ServiceRegistry({ serviceEntries: this.current.input.serviceEntries, workloadEntries });
    const hosts = changedEndpointHosts(this.current.registry, registry);
    if (!hosts) return undefined;
    // Clusters name their services' identities (ISTIO_MUTUAL SAN checks) and, for passthrough
    // services, whether every endpoint has a sidecar: a change there needs new clusters (a full
    // push, as istiod's updateShardServiceAccount).
    for (const host of hosts) if (identitiesOf(this.current.registry, host) !== identitiesOf(registry, host)) return undefined;
    // Entries the store reported changed since the last push, before and after.
    const proxyIps = new Set(this.generator.proxies().flatMap((p) => p.proxy.ipAddresses));
    const changed = this.changedWorkloads;
    this.changedWorkloads = new Set();
    const touchesProxy = (workloads: readonly WorkloadEndpoint[]) =>
      workloads.some((w) => changed.has(`${w.namespace}/${w.source.name}`) && proxyIps.has(w.address));
    if (touchesProxy(this.current.registry.workloads) || touchesProxy(registry.workloads)) return undefined;
    const push = this.current.withRegistry(registry, workloadEntries);
    return { push, hosts, clusters: this.clusterNamesFor(push, hosts) };
  }

  /** Every EDS cluster name of the given hosts: all ports, and all subsets any rule defines for them. */
  private clusterNamesFor(push: PushContext, hosts: ReadonlySet<string>): Set<string> {
    const out = new Set<string>();
    for (const host of hosts) {
      const subsets = new Set<string>([""]);
      for (const dr of push.input.destinationRules) {
        if (!hostMatches(resolveShortName(dr.spec.host, dr.metadata.namespace), host)) continue;
        for (const s of dr.spec.subsets ?? []) subsets.add(s.name);
      }
      for (const svc of push.registry.servicesFor(host)) {
        for (const p of svc.ports) for (const subset of subsets) out.add(outboundClusterName(p.port, host, subset));
      }
    }
    return out;
  }
}

/** The service accounts of a host's endpoints (and their sidecar modes for passthrough services), as one comparable string. */
function identitiesOf(registry: ServiceRegistry, host: string): string {
  const ids = new Set<string>();
  for (const svc of registry.servicesFor(host)) {
    for (const ep of registry.endpoints(svc)) {
      if (ep.serviceAccount) ids.add(`${ep.namespace}/${ep.serviceAccount}`);
      if (svc.resolution === "NONE") ids.add(`${ep.address} ${ep.tlsMode}`);
    }
  }
  return [...ids].sort().join(",");
}
