// The control plane's security side (Citadel's role in istiod), wired: the mesh CA (a self-signed
// root kept in the state folder, or Istio's plug-in `cacerts` folder, watched and reloaded), the
// key that signs local workload credentials, the root bundle file agents trust (the analogue of
// istiod's istio-ca-root-cert ConfigMap, rewritten when the roots change), and 15012: one gRPC
// server with TLS serving the CA service and the same ADS as the plaintext 15010, with a serving
// certificate from the mesh CA for istiod.istio-system.svc.
//
// The state folder:
//   ca/root-cert.pem, ca/ca-key.pem   the self-signed CA (key 0600); unused with a plug-in CA
//   credential-key.pem                signs workload credentials (0600)
//   istio-ca-root-cert.pem            every root workloads trust (PEM bundle), for agents to watch
//   credentials/                      workload credential files (`tsmesh up` writes them)
import { mkdirSync, readFileSync, statSync, existsSync } from "node:fs";
import { writeFileAtomic } from "../core/atomic-file.js";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { MetricsRegistry } from "../core/metrics.js";
import { MeshCa, type CaKeyType } from "../security/ca.js";
import { ISTIOD_SERVER_NAME } from "../security/ca-proto.js";
import { CaService } from "../security/ca-service.js";
import { type Authenticator, bearerToken, type CallerIdentity } from "../security/authenticator.js";
import { LocalCredentialIssuer, type IssuedCredential } from "../security/credential.js";
import { ServingCertificate } from "../security/serving-cert.js";
import type { AdsServer } from "../xds/server/ads.js";

export const STATE_FILES = {
  selfSignedCa: "ca",
  credentialKey: "credential-key.pem",
  rootBundle: "istio-ca-root-cert.pem",
  credentials: "credentials",
} as const;

/** The names istiod's serving certificate carries (agents verify ISTIOD_SERVER_NAME). */
export const ISTIOD_DNS_NAMES = [ISTIOD_SERVER_NAME, `${ISTIOD_SERVER_NAME}.cluster.local`];

const PLUGIN_FILES = ["ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem"];

export interface ControlPlaneSecurityOptions {
  /** The state folder (created 0700 when missing). */
  stateDir: string;
  /** Istio's plug-in CA folder (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem); watched. */
  cacertsDir?: string;
  /** The trust domain SVIDs are issued in (fixed for this run: mesh config trustDomain at start). */
  trustDomain: string;
  /** The self-signed root's key type when asked for (a stored root of another type is refused). */
  keyType?: CaKeyType;
  /** How often the cacerts folder is checked for changes (ms; default 1000; 0 = not watched). */
  cacertsPollMs?: number;
  metrics: MetricsRegistry;
  log: (line: string) => void;
}

export class ControlPlaneSecurity {
  private current: MeshCa;
  private pollTimer: NodeJS.Timeout | undefined;
  private server: grpc.Server | undefined;
  private readonly rootListeners = new Set<(bundlePem: string) => void>();
  readonly caService: CaService;
  readonly serving: ServingCertificate;
  readonly rootBundleFile: string;
  readonly credentialsDir: string;
  private readonly callAuthenticator: Authenticator;

  private constructor(
    private readonly o: ControlPlaneSecurityOptions,
    ca: MeshCa,
    readonly credentials: LocalCredentialIssuer,
  ) {
    this.current = ca;
    this.rootBundleFile = join(o.stateDir, STATE_FILES.rootBundle);
    this.credentialsDir = join(o.stateDir, STATE_FILES.credentials);
    this.callAuthenticator = credentials.authenticator();
    this.caService = new CaService({ ca: () => this.current, trustDomain: () => o.trustDomain, authenticators: [credentials.authenticator()], metrics: o.metrics, log: o.log });
    this.serving = new ServingCertificate({ ca: () => this.current, dnsNames: ISTIOD_DNS_NAMES, log: o.log });
  }

  /** Loads (or makes) the CA and the credential key, writes the root bundle, issues the serving certificate. */
  static async start(o: ControlPlaneSecurityOptions): Promise<ControlPlaneSecurity> {
    mkdirSync(o.stateDir, { recursive: true, mode: 0o700 });
    const ca = o.cacertsDir !== undefined ? await MeshCa.plugIn(o.cacertsDir) : await MeshCa.selfSigned(join(o.stateDir, STATE_FILES.selfSignedCa), { trustDomain: o.trustDomain, keyType: o.keyType });
    const credentials = LocalCredentialIssuer.open(join(o.stateDir, STATE_FILES.credentialKey));
    const security = new ControlPlaneSecurity(o, ca, credentials);
    security.writeRootBundle();
    await security.serving.renew();
    const source = o.cacertsDir !== undefined ? `plug-in CA ${o.cacertsDir}` : `self-signed root ${join(o.stateDir, STATE_FILES.selfSignedCa, "root-cert.pem")}`;
    o.log(`ca: mesh CA from ${source}, trust domain ${o.trustDomain}, ${ca.rootsPem.length} root(s) in ${security.rootBundleFile}`);
    if (o.cacertsDir !== undefined && (o.cacertsPollMs ?? 1000) > 0) security.watchCacerts(o.cacertsDir, o.cacertsPollMs ?? 1000);
    return security;
  }

  /**
   * Who an xDS stream's caller is, from its `authorization: Bearer` credential (istiod's
   * VerifiedIdentity); undefined without one or with one that does not verify.
   */
  async authenticateCall(metadata: grpc.Metadata): Promise<CallerIdentity | undefined> {
    const token = bearerToken(metadata.get("authorization"));
    if (token === undefined) return undefined;
    const r = await this.callAuthenticator.authenticate(token);
    return "identity" in r ? r.identity : undefined;
  }

  /** The CA in force. */
  get ca(): MeshCa {
    return this.current;
  }

  get trustDomain(): string {
    return this.o.trustDomain;
  }

  /** A workload credential for NAMESPACE/SERVICE_ACCOUNT (what `tsmesh up` writes for each workload). */
  issueCredential(id: CallerIdentity): Promise<IssuedCredential> {
    return this.credentials.issue(id);
  }

  /** Called with the new root bundle whenever the roots change. */
  onRootsChange(listener: (bundlePem: string) => void): () => void {
    this.rootListeners.add(listener);
    return () => this.rootListeners.delete(listener);
  }

  /** The mesh config's trust domain changed while running: certificates keep the one this run started with. */
  meshTrustDomainChanged(trustDomain: string): void {
    if (trustDomain === this.o.trustDomain) return;
    this.o.log(
      `ca: mesh config trustDomain is now ${trustDomain}, but the mesh CA keeps issuing spiffe://${this.o.trustDomain}/… until the control plane restarts` +
        (this.o.cacertsDir === undefined ? ` (a restart refuses the stored root made for ${this.o.trustDomain}: move ${join(this.o.stateDir, STATE_FILES.selfSignedCa)} away to make a new one)` : ""),
    );
  }

  /** Serves the CA and `ads` over gRPC with TLS on `address` (istiod's 15012); returns the bound port. */
  async listen(address: string, ads: AdsServer<unknown>): Promise<number> {
    if (this.server) throw new Error("the secure xDS/CA server is already listening");
    const server = new grpc.Server();
    ads.addTo(server);
    this.caService.addTo(server);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync(address, this.serving.serverCredentials(), (e, p) => (e ? reject(e) : resolve(p))));
    this.server = server;
    return port;
  }

  async close(graceMs = 1000): Promise<void> {
    clearInterval(this.pollTimer);
    this.serving.close();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, graceMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Writes the root bundle atomically (agents may read it at any moment) when its text changed. */
  private writeRootBundle(): boolean {
    const text = this.current.rootBundlePem;
    if (existsSync(this.rootBundleFile) && readFileSync(this.rootBundleFile, "utf8") === text) return false;
    writeFileAtomic(this.rootBundleFile, text, { mode: 0o644, durable: true });
    return true;
  }

  /**
   * istiod's cacerts watch: a change to the folder's files reloads the plug-in CA; new certificates
   * chain to it and the root bundle (file, CA answers) follows root-cert.pem — both roots while it
   * holds both. A folder caught half-written, or bad, is logged and the CA in force kept.
   */
  private watchCacerts(dir: string, pollMs: number): void {
    const stamp = () =>
      PLUGIN_FILES.map((f) => {
        try {
          const st = statSync(join(dir, f));
          return `${st.mtimeMs}/${st.size}/${st.ino}`;
        } catch {
          return "gone";
        }
      }).join(",");
    let seen = stamp();
    let loading = false;
    this.pollTimer = setInterval(() => {
      const now = stamp();
      if (now === seen || loading) return;
      seen = now;
      loading = true;
      MeshCa.plugIn(dir)
        .then(async (ca) => {
          if (stamp() !== now) return; // still being written: the next tick loads the final files
          this.current = ca;
          const rootsChanged = this.writeRootBundle();
          await this.serving.renew();
          this.o.log(`ca: plug-in CA ${dir} reloaded: new certificates chain to it; ${ca.rootsPem.length} root(s) in ${this.rootBundleFile}${rootsChanged ? " (changed)" : ""}`);
          if (rootsChanged) for (const l of this.rootListeners) l(ca.rootBundlePem);
        })
        .catch((e: unknown) => this.o.log(`ca: plug-in CA ${dir} not reloaded: ${(e as Error).message} (the CA in force keeps issuing)`))
        .finally(() => (loading = false));
    }, pollMs);
    this.pollTimer.unref();
  }
}
