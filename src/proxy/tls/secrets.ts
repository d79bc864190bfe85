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

function key(source: SecretSourceName, name: string): string {
  return `${source}\u0000${name}`;
}

export class SecretManager {
  private readonly secrets = new Map<string, SdsSecret>();
  private readonly watchers = new Map<string, Set<Watcher>>();

  /** The current secret, or undefined while it has not arrived (or was removed). */
  get(source: SecretSourceName, name: string): SdsSecret | undefined {
    return this.secrets.get(key(source, name));
  }

  /** Sets (or with undefined removes) a secret and tells its watchers when it changed. */
  set(source: SecretSourceName, name: string, secret: SdsSecret | undefined): void {
    const k = key(source, name);
    const old = this.secrets.get(k);
    if (sameSecret(old, secret)) return;
    if (secret) this.secrets.set(k, secret);
    else this.secrets.delete(k);
    for (const w of [...(this.watchers.get(k) ?? [])]) w(secret);
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

  /** The names currently watched from a source (what an ADS client subscribes to). */
  watchedNames(source: SecretSourceName): string[] {
    const prefix = `${source}\u0000`;
    return [...this.watchers.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  }

  /** Every secret held, by source and name (for /certs and the config dump, which redact keys). */
  entries(): { source: SecretSourceName; name: string; secret: SdsSecret }[] {
    return [...this.secrets].map(([k, secret]) => {
      const i = k.indexOf("\u0000");
      return { source: k.slice(0, i) as SecretSourceName, name: k.slice(i + 1), secret };
    });
  }
}

function sameSecret(a: SdsSecret | undefined, b: SdsSecret | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.kind === "tlsCertificate" && b.kind === "tlsCertificate") return a.certificateChainPem === b.certificateChainPem && a.privateKeyPem === b.privateKeyPem;
  if (a.kind === "validationContext" && b.kind === "validationContext") return a.trustedCaPem === b.trustedCaPem;
  return false;
}
