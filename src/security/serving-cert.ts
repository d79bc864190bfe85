// istiod's own serving certificate for 15012 (xDS and the CA over TLS): a key made in the control
// plane and a certificate from the mesh CA for the names agents dial (istiod.istio-system.svc),
// handed to grpc-js as a certificate provider so it can be replaced without a restart — renewed at
// half its life, and at once when the CA changes (a plug-in CA rotation), so it always chains to
// the roots agents are given. The key never leaves this object and grpc-js.
import type * as grpc from "@grpc/grpc-js";
import { experimental } from "@grpc/grpc-js";
import { DEFAULT_SVID_TTL_S, type MeshCa } from "./ca.js";

type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;
type IdentityUpdate = grpc.experimental.IdentityCertificateUpdate;

export interface ServingCertificateOptions {
  /** The CA in force now. */
  ca: () => MeshCa;
  dnsNames: readonly string[];
  /** Lifetime of each certificate (default 24 h, as a workload's). */
  ttlSeconds?: number;
  log: (line: string) => void;
  now?: () => Date;
}

export class ServingCertificate implements grpc.experimental.CertificateProvider {
  private latest: IdentityUpdate | null = null;
  private readonly listeners = new Set<IdentityListener>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The current certificate's chain (leaf first) and expiry, for status and tests. */
  certChainPem: string[] = [];
  notAfter = new Date(0);

  constructor(private readonly o: ServingCertificateOptions) {}

  /** Issues a new certificate from the CA in force and hands it to every server using it. */
  async renew(): Promise<void> {
    if (this.closed) return;
    const now = this.o.now?.() ?? new Date();
    const issued = await this.o.ca().issueServingCertificate(this.o.dnsNames, { ttlSeconds: this.o.ttlSeconds ?? DEFAULT_SVID_TTL_S, now });
    // The leaf and its intermediates; clients hold the root.
    const chain = issued.certChainPem.length > 1 ? issued.certChainPem.slice(0, -1) : issued.certChainPem;
    this.latest = { certificate: Buffer.from(chain.join("")), privateKey: Buffer.from(issued.keyPem) };
    this.certChainPem = issued.certChainPem;
    this.notAfter = issued.notAfter;
    for (const l of this.listeners) l(this.latest);
    this.schedule(now);
  }

  /** Renewal at half the remaining life (at least a second later); a failure is retried every minute. */
  private schedule(now: Date): void {
    this.setTimer(Math.max(1000, (this.notAfter.getTime() - now.getTime()) / 2));
  }

  private setTimer(inMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.renew().catch((e: unknown) => {
        this.o.log(`ca: renewing the serving certificate failed: ${(e as Error).message}; retrying in 60 s`);
        this.setTimer(60_000);
      });
    }, inMs);
    this.timer.unref();
  }

  /** gRPC server credentials that follow this certificate (no client certificate asked for). */
  serverCredentials(): grpc.ServerCredentials {
    // grpc-js takes the identity provider first; the second (CA) provider would ask for client certs.
    return experimental.createCertificateProviderServerCredentials(this, null, false);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.listeners.add(listener);
    // Delivered after the caller returns: grpc-js registers its server's watcher only after this call.
    queueMicrotask(() => {
      if (this.latest && this.listeners.has(listener)) listener(this.latest);
    });
  }
  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.listeners.delete(listener);
  }
  // This provider has no CA certificates to offer (clients are not asked for certificates).
  addCaCertificateListener(): void {}
  removeCaCertificateListener(): void {}
}
