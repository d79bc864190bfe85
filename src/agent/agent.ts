// pilot-agent's certificate role inside `tsmesh proxy` (Istio's SecretManagerClient): the workload's
// key is made here and never leaves the process (it goes only into the proxy's SecretManager), a
// CSR for spiffe://TD/ns/NS/sa/SA goes to the mesh CA, and the checked answer becomes the SDS
// secrets `default` (chain + key) and `ROOTCA` (the `--ca-root-cert` roots and the CA's, both
// trusted while a root rotates). The certificate is renewed, with a new key, when about half its
// life is left (Istio: SECRET_GRACE_PERIOD_RATIO 0.5, SECRET_GRACE_PERIOD_RATIO_JITTER 0.01). While
// the CA is unreachable the current certificate stays in use and the call is retried with capped
// exponential backoff; past its expiry it is still kept, and every retry says so at error level.
// The root file is watched: a new bundle becomes the new ROOTCA without a restart. Logs name the
// SPIFFE ID, serial and validity — never the key or the credential.
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { type Clock, realClock } from "../core/clock.js";
import { FileWatch } from "../core/file-watch.js";
import type { Logger } from "../core/log.js";
import { pemBlocks } from "../core/pem.js";
import type { SecretManager } from "../proxy/tls/secrets.js";
import type { CaKeyType } from "../security/ca.js";
import { generateCsr } from "../security/csr.js";
import { type SpiffeId, spiffeUri } from "../security/spiffe.js";
import type { CertificateSigner } from "./ca-client.js";
import { CertificateRefused, checkCertificateResponse, mergeRootBundles, parseRootBundle, type WorkloadCertificate } from "./svid.js";

/** Istio's SECRET_GRACE_PERIOD_RATIO: renew when this share of the lifetime is left. */
export const GRACE_PERIOD_RATIO = 0.5;
/** Istio's SECRET_GRACE_PERIOD_RATIO_JITTER: ± this much of the lifetime, at random. */
export const GRACE_PERIOD_RATIO_JITTER = 0.01;
/** Retries after a failed CSR: doubling from 1 s, at most 30 s apart (±jitter, never below half). */
export const DEFAULT_RETRY_BACKOFF = { initialMs: 1000, maxMs: 30_000 };
/** The longest single timer: a wait for a far renewal is re-checked against the wall clock this often. */
const MAX_TIMER_MS = 3600_000;

export interface WorkloadAgentOptions {
  identity: SpiffeId;
  /** EC P-256 (default) or RSA 2048. */
  keyType?: CaKeyType;
  /** The validity asked of the CA (seconds; the CA may cap it). */
  ttlSeconds: number;
  signer: CertificateSigner;
  secrets: SecretManager;
  /** `--ca-root-cert`: read at start (it must hold a certificate) and watched. */
  rootCertFile: string;
  log: Logger;
  /** Timers (tests inject a manual clock). */
  clock?: Clock;
  /** Wall time in ms since the epoch (certificate validity); default Date.now. */
  wallNow?: () => number;
  /** Uniform in [0, 1): rotation and retry jitter. */
  random?: () => number;
  backoff?: { initialMs?: number; maxMs?: number };
  /** How often the root file is checked when no watch event came (ms). */
  rootPollMs?: number;
}

export interface AgentEvents {
  /** A certificate was obtained, checked and handed to the proxy. */
  certificate: [WorkloadCertificate];
  /** A CSR failed (the CA unreachable, a refusal, a response that failed the checks). */
  failure: [{ attempt: number; retryInMs: number; error: Error }];
  /** ROOTCA changed (the bundle now served). */
  roots: [string];
}

/** When a certificate received at `receivedAt` and expiring at `notAfter` is renewed (wall ms). */
export function rotationTime(receivedAt: number, notAfter: number, random: () => number, ratio = GRACE_PERIOD_RATIO, jitter = GRACE_PERIOD_RATIO_JITTER): number {
  const grace = Math.min(1, Math.max(0, ratio + (random() * 2 - 1) * jitter));
  return notAfter - grace * Math.max(0, notAfter - receivedAt);
}

/** The wait before retry number `attempt` (1, 2, …): initial·2^(attempt-1), capped, in [½, 1] of that at random. */
export function retryDelay(attempt: number, random: () => number, backoff: { initialMs?: number; maxMs?: number } = {}): number {
  const initial = Math.max(1, backoff.initialMs ?? DEFAULT_RETRY_BACKOFF.initialMs);
  const cap = Math.max(initial, backoff.maxMs ?? DEFAULT_RETRY_BACKOFF.maxMs);
  const base = Math.min(cap, initial * 2 ** Math.min(Math.max(0, attempt - 1), 30));
  return Math.round(base / 2 + (random() * base) / 2);
}

const iso = (ms: number) => new Date(ms).toISOString();
const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;

export class WorkloadAgent extends EventEmitter<AgentEvents> {
  readonly spiffeId: string;
  private readonly clock: Clock;
  private readonly wall: () => number;
  private readonly random: () => number;
  private fileRoots = "";
  private caRoots = "";
  private servedRoots = "";
  private watch: FileWatch | undefined;
  private timer: unknown;
  private renewing = false;
  private closed = false;
  private attempt = 0;
  private cert: (WorkloadCertificate & { receivedAt: number }) | undefined;
  /** Wall time of the next scheduled renewal or retry. */
  nextRenewalAt: number | undefined;

  constructor(private readonly o: WorkloadAgentOptions) {
    super();
    this.spiffeId = spiffeUri(o.identity);
    this.clock = o.clock ?? realClock;
    this.wall = o.wallNow ?? Date.now;
    this.random = o.random ?? Math.random;
  }

  /** The mesh roots from `--ca-root-cert` as last read (the CA client's trust anchors). */
  get rootsPem(): string {
    return this.fileRoots;
  }

  /** The certificate in use (no key), if one was obtained. */
  get certificate(): WorkloadCertificate | undefined {
    return this.cert;
  }

  /** Reads the root file (throws when it holds no certificate), serves ROOTCA, asks for the first certificate. */
  start(): void {
    const file = this.o.rootCertFile;
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new Error(`--ca-root-cert ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    this.fileRoots = parseRootBundle(text, `--ca-root-cert ${file}`);
    this.publishRoots();
    this.watch = new FileWatch(file, text, (changed) => this.onRootFile(changed), {
      pollMs: this.o.rootPollMs,
      onError: (m) => this.o.log.warn(`agent: ${m}`),
    });
    this.o.log.info(`agent: requesting a workload certificate for ${this.spiffeId} (${this.o.keyType ?? "EC"} key, ${this.o.ttlSeconds}s)`);
    void this.renew();
  }

  close(): void {
    this.closed = true;
    this.o.signer.close?.();
    this.watch?.close();
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.nextRenewalAt = undefined;
  }

  private onRootFile(text: string): void {
    let roots: string;
    try {
      roots = parseRootBundle(text, `--ca-root-cert ${this.o.rootCertFile}`);
    } catch (e) {
      this.o.log.error(`agent: ${(e as Error).message}; ROOTCA unchanged`);
      return;
    }
    if (roots === this.fileRoots) return; // the same certificates, written again
    this.fileRoots = roots;
    this.o.log.info(`agent: ${this.o.rootCertFile} changed: ROOTCA updated (${pemBlocks(roots, "CERTIFICATE").length} root(s) in the file)`);
    this.publishRoots();
  }

  /** ROOTCA = the file's roots and the CA's last bundle (both trusted during a root rotation). */
  private publishRoots(): void {
    const bundle = mergeRootBundles(this.fileRoots, this.caRoots);
    if (bundle === this.servedRoots) return;
    this.servedRoots = bundle;
    this.o.secrets.set("sds-grpc", "ROOTCA", { kind: "validationContext", trustedCaPem: bundle });
    this.emit("roots", bundle);
  }

  /** A new key, a CSR, the CA's answer checked and served; on failure the current certificate stays and a retry is scheduled. */
  private async renew(): Promise<void> {
    if (this.closed || this.renewing) return;
    this.renewing = true;
    this.cancelTimer();
    try {
      const { csrPem, keyPem } = await generateCsr({ uris: [this.spiffeId], organization: this.o.identity.trustDomain, keyType: this.o.keyType });
      const chain = await this.o.signer.createCertificate(csrPem, this.o.ttlSeconds);
      if (this.closed) return;
      const receivedAt = this.wall();
      const cert = checkCertificateResponse(chain, { keyPem, spiffeId: this.spiffeId, now: receivedAt });
      this.cert = { ...cert, receivedAt };
      this.attempt = 0;
      this.o.secrets.set("sds-grpc", "default", { kind: "tlsCertificate", certificateChainPem: cert.chainPem, privateKeyPem: keyPem });
      const added = pemBlocks(mergeRootBundles(this.fileRoots, cert.caRootsPem), "CERTIFICATE").length - pemBlocks(this.fileRoots, "CERTIFICATE").length;
      if (added > 0 && cert.caRootsPem !== this.caRoots) this.o.log.info(`agent: the CA's root bundle has ${added} root(s) not in ${this.o.rootCertFile}: trusting both (a root rotation)`);
      this.caRoots = cert.caRootsPem;
      this.publishRoots();
      const at = rotationTime(receivedAt, cert.notAfter, this.random);
      this.o.log.info(`agent: workload certificate for ${this.spiffeId}: serial ${cert.serial}, valid until ${iso(cert.notAfter)}; renewal at ${iso(at)}`);
      this.emit("certificate", cert);
      this.scheduleAt(at);
    } catch (e) {
      if (this.closed) return;
      this.attempt++;
      const error = e as Error;
      const retryInMs = retryDelay(this.attempt, this.random, this.o.backoff);
      this.logFailure(error, retryInMs);
      this.emit("failure", { attempt: this.attempt, retryInMs, error });
      this.nextRenewalAt = this.wall() + retryInMs;
      this.timer = this.clock.setTimeout(() => {
        this.timer = undefined;
        void this.renew();
      }, retryInMs);
    } finally {
      this.renewing = false;
    }
  }

  private logFailure(error: Error, retryInMs: number): void {
    const what = error instanceof CertificateRefused ? `refused the CA's response: ${error.message}` : error.message;
    const retry = `retrying in ${seconds(retryInMs)} (attempt ${this.attempt})`;
    const c = this.cert;
    // A refused response is a CA (or an impostor) misbehaving: always an error; an unreachable CA is a warning until the certificate expires.
    const log = error instanceof CertificateRefused ? this.o.log.error.bind(this.o.log) : this.o.log.warn.bind(this.o.log);
    if (c === undefined) return log(`agent: no workload certificate yet for ${this.spiffeId}: ${what}; ${retry}`);
    if (this.wall() >= c.notAfter) {
      return this.o.log.error(`agent: the workload certificate for ${this.spiffeId} (serial ${c.serial}) EXPIRED at ${iso(c.notAfter)} and cannot be renewed: ${what}; still serving it, ${retry}`);
    }
    log(`agent: renewing the workload certificate for ${this.spiffeId} failed: ${what}; keeping serial ${c.serial} (valid until ${iso(c.notAfter)}), ${retry}`);
  }

  /** Renews at wall time `at`, waking at least hourly to follow the wall clock (suspend, clock changes). */
  private scheduleAt(at: number): void {
    this.cancelTimer();
    this.nextRenewalAt = at;
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, at - this.wall()));
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.wall() < at) this.scheduleAt(at);
      else void this.renew();
    }, wait);
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
