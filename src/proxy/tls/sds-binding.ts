// A TLS context whose secrets come over SDS, bound to the proxy's SecretManager for as long as its
// cluster or listener lives: it watches the names its config refers to and, once every one has
// arrived, builds the context; each later change builds it again (a new certificate for new
// connections; connections already made keep theirs). A secret that goes away leaves the context
// unavailable again (fail closed). A context that cannot be built from what arrived (a certificate
// where trusted CAs were expected, say) keeps the one it had and is logged. release() drops the
// watches when the cluster or listener goes, so nothing leaks across updates.
import { allRefs, type ContextSecretRefs, type SdsSecretRef } from "./sds-config.js";
import type { SdsSecret, SecretManager, TlsCertificateSecret, ValidationContextSecret } from "./secrets.js";

/** The secrets a context is built from (what its refs named, all present, in order). */
export interface ContextSecrets {
  readonly certificates: readonly TlsCertificateSecret[];
  readonly validation?: ValidationContextSecret;
}

/** Builds the context from its secrets; `previous` is the context it replaces (if any). Throws when it cannot. */
export type BuildContext<T> = (secrets: ContextSecrets, previous: T | undefined) => T;

export class SdsBinding<T> {
  /** The context built from the current secrets; undefined while one is missing. */
  current: T | undefined = undefined;
  private readonly unwatch: Array<() => void> = [];
  private released = false;

  constructor(
    private readonly secrets: SecretManager,
    private readonly refs: ContextSecretRefs,
    private readonly build: BuildContext<T>,
    /** What the context is, for log lines (`cluster NAME`, `listener NAME filter chain N`). */
    private readonly what: string,
    private readonly log: (line: string) => void,
  ) {
    for (const r of allRefs(refs)) this.unwatch.push(secrets.watch(r.source, r.name, () => this.rebuild()));
    this.rebuild();
  }

  private rebuild(): void {
    if (this.released) return;
    const { certificates, validation } = this.refs;
    const get = (r: SdsSecretRef) => this.secrets.get(r.source, r.name);
    const certs = certificates.map(get);
    const val = validation && get(validation);
    if (certs.includes(undefined) || (validation && !val)) {
      this.current = undefined;
      return;
    }
    const wrong = (r: SdsSecretRef, s: SdsSecret | undefined, kind: SdsSecret["kind"]) => (s !== undefined && s.kind !== kind ? r : undefined);
    const wrongKind = certificates.find((r, i) => wrong(r, certs[i], "tlsCertificate")) ?? (validation && wrong(validation, val, "validationContext"));
    if (wrongKind) {
      this.log(`${this.what}: SDS secret ${JSON.stringify(wrongKind.name)} (${wrongKind.source}) is not a ${wrongKind === validation ? "validation context" : "TLS certificate"}; the TLS context stays ${this.current ? "as it was" : "unavailable"}`);
      return;
    }
    try {
      const secrets: ContextSecrets = { certificates: certs as TlsCertificateSecret[], ...(val ? { validation: val as ValidationContextSecret } : {}) };
      this.current = this.build(secrets, this.current);
    } catch (e) {
      this.log(`${this.what}: cannot build the TLS context from its SDS secrets: ${(e as Error).message}; it stays ${this.current ? "as it was" : "unavailable"}`);
    }
  }

  /** Stops watching (the cluster or listener is gone); the current context stays usable by what holds it. */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const u of this.unwatch.splice(0)) u();
  }
}
