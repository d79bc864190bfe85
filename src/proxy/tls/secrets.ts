// The proxy's secrets as SDS delivers them (Envoy's SecretManager): named TLS certificates and
// validation contexts, by where they come from — the in-process agent behind the `sds-grpc` cluster
// (the workload's `default` certificate and `ROOTCA`), or the ADS stream (a gateway's
// `kubernetes://NAME` credentials). TLS contexts watch the names they need and are rebuilt when a
// secret changes; a secret that has not arrived keeps its contexts unavailable (fail closed).
// Secrets hold private keys: nothing here formats or logs them.

/** A certificate chain and its private key (PEM), e.g. the workload's `default` SVID. */
export interface TlsCertificateSecret {
  readonly kind: "tlsCertificate";
  readonly certificateChainPem: string;
  readonly privateKeyPem: string;
}

/** Trust anchors (PEM bundle), e.g. `ROOTCA` or a credential's `-cacert`. */
export interface ValidationContextSecret {
  readonly kind: "validationContext";
  readonly trustedCaPem: string;
}

export type SdsSecret = TlsCertificateSecret | ValidationContextSecret;

/** Where a secret comes from: the agent (`sds-grpc`) or the ADS stream. */
export type SecretSourceName = "sds-grpc" | "ads";

type Watcher = (secret: SdsSecret | undefined) => void;

/** A secret as held: the secret, the version it came with and when it was set (for the config dump). */
export interface SecretEntry {
  readonly source: SecretSourceName;
  readonly name: string;
  readonly secret: SdsSecret;
  /** The SDS version (the ADS resource version; the agent's own, or the time it was set). */
  readonly version: string;
  /** When it was set (ms since epoch). */
  readonly updatedAt: number;
}

/** Told of every change of any secret (undefined: removed): what `--concurrency` forwards to its workers. */
export type SecretListener = (source: SecretSourceName, name: string, entry: SecretEntry | undefined) => void;

function key(source: SecretSourceName, name: string): string {
  return `${source}\u0000${name}`;
}

export class SecretManager {
  private readonly secrets = new Map<string, SecretEntry>();
  private readonly watchers = new Map<string, Set<Watcher>>();
  private readonly listeners = new Set<SecretListener>();

  /** The current secret, or undefined while it has not arrived (or was removed). */
  get(source: SecretSourceName, name: string): SdsSecret | undefined {
    return this.secrets.get(key(source, name))?.secret;
  }

  /**
   * Sets (or with undefined removes) a secret and tells its watchers when it changed. `version`
   * is the SDS version it came with (default: the time it is set, as pilot-agent's SDS versions).
   */
  set(source: SecretSourceName, name: string, secret: SdsSecret | undefined, version?: string, updatedAt = Date.now()): void {
    const k = key(source, name);
    const old = this.secrets.get(k);
    if (sameSecret(old?.secret, secret)) return;
    const entry = secret ? { source, name, secret, version: version ?? new Date(updatedAt).toISOString(), updatedAt } : undefined;
    if (entry) this.secrets.set(k, entry);
    else this.secrets.delete(k);
    for (const w of [...(this.watchers.get(k) ?? [])]) w(secret);
    for (const l of [...this.listeners]) l(source, name, entry);
  }

  /** Calls `l` on every change of any secret; returns the unsubscribe function. */
  onChange(l: SecretListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Calls `w` on every change of one secret; returns the unsubscribe function. */
  watch(source: SecretSourceName, name: string, w: Watcher): () => void {
    const k = key(source, name);
    let set = this.watchers.get(k);
    if (!set) this.watchers.set(k, (set = new Set()));
    set.add(w);
    return () => {
      const s = this.watchers.get(k);
      if (!s) return;
      s.delete(w);
      if (s.size === 0) this.watchers.delete(k);
    };
  }

  /** How many watchers one secret has (leak checks: a cluster or listener replaced N times still has one). */
  watcherCount(source: SecretSourceName, name: string): number {
    return this.watchers.get(key(source, name))?.size ?? 0;
  }

  /**
   * The names currently watched from a source: the bound contexts' (the ADS subscription itself
   * follows the config, which also names the secrets of contexts not bound yet: ProxyServer).
   */
  watchedNames(source: SecretSourceName): string[] {
    const prefix = `${source}\u0000`;
    return [...this.watchers.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  }

  /** Every secret held, with its version (for /certs and the config dump, which redact keys). */
  entries(): SecretEntry[] {
    return [...this.secrets.values()];
  }
}

function sameSecret(a: SdsSecret | undefined, b: SdsSecret | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.kind === "tlsCertificate" && b.kind === "tlsCertificate") return a.certificateChainPem === b.certificateChainPem && a.privateKeyPem === b.privateKeyPem;
  if (a.kind === "validationContext" && b.kind === "validationContext") return a.trustedCaPem === b.trustedCaPem;
  return false;
}
