// istiod's WorkloadEntry auto-registration (pilot/pkg/autoregistration): a proxy that connects with
// AUTO_REGISTER_GROUP in its node metadata gets a WorkloadEntry named `<group>-<ip>[-<network>]`,
// built from the WorkloadGroup's template (labels: template < group metadata < node labels; the
// node's network and locality override the template's). The entry lives in a store source of its
// own, below the config folders, so a hand-written WorkloadEntry of the same name wins. When the
// proxy's last connection closes the entry is marked disconnected and deleted after a grace period
// (PILOT_WORKLOAD_ENTRY_GRACE_PERIOD, 10 s), unless the proxy reconnects first.
import type { Resource } from "../api/resource.js";
import type { ConfigStore } from "../config/store.js";
import type { Proxy } from "../model/proxy.js";
import { localityString } from "../registry/model.js";

export const AUTO_REGISTRATION_SOURCE = "autoregistration";
export const AUTO_REGISTRATION_GROUP_ANNOTATION = "istio.io/autoRegistrationGroup";
export const CONNECTED_AT_ANNOTATION = "istio.io/connectedAt";
export const DISCONNECTED_AT_ANNOTATION = "istio.io/disconnectedAt";
export const WORKLOAD_CONTROLLER_ANNOTATION = "istio.io/workloadController";
/** Locality travels as a label on the proxy (`istio-locality`); it is not a workload label. */
const LOCALITY_LABEL = "istio-locality";

export interface AutoRegistrationOptions {
  /** How long an entry outlives its proxy's last connection (ms). */
  graceMs?: number;
  /** Names this control plane in istio.io/workloadController. */
  controller?: string;
  log?: (line: string) => void;
}

interface Registered {
  entry: Resource<"WorkloadEntry">;
  connections: number;
  cleanup?: NodeJS.Timeout;
}

export class AutoRegistrationError extends Error {}

/** The WorkloadEntry name Istio gives an auto-registered proxy. */
export function autoRegisteredName(group: string, ip: string, network: string): string {
  const name = network ? `${group}-${ip}-${network}` : `${group}-${ip}`;
  // IPv6 colons are not allowed in resource names.
  return name.replace(/:/g, "-");
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

export class WorkloadAutoRegistration {
  private readonly entries = new Map<string, Registered>();
  private readonly graceMs: number;
  private readonly controller: string;
  private readonly log: (line: string) => void;
  private closed = false;

  constructor(
    private readonly store: ConfigStore,
    options: AutoRegistrationOptions = {},
  ) {
    this.graceMs = options.graceMs ?? 10_000;
    this.controller = options.controller ?? "tsmesh-discovery";
    this.log = options.log ?? (() => {});
    // Below every config folder (those have priorities 0, 1, …).
    store.addSource(AUTO_REGISTRATION_SOURCE, -1);
  }

  /** The group a proxy asks to join, or undefined when it does not auto-register. */
  static groupOf(proxy: Proxy): string | undefined {
    return str(proxy.metadata.AUTO_REGISTER_GROUP) || undefined;
  }

  /**
   * Registers (or refreshes) the proxy's entry. Throws AutoRegistrationError when the group does
   * not exist or the proxy has no address: the stream is then refused, as istiod does.
   */
  connect(proxy: Proxy): void {
    const group = WorkloadAutoRegistration.groupOf(proxy);
    if (!group || this.closed) return;
    const wg = this.store.get("WorkloadGroup", proxy.namespace, group);
    if (!wg) {
      throw new AutoRegistrationError(`auto-registration of ${proxy.id} failed: WorkloadGroup ${proxy.namespace}/${group} not found`);
    }
    const ip = proxy.ipAddresses[0];
    if (!ip) throw new AutoRegistrationError(`auto-registration of ${proxy.id} failed: the proxy has no IP address`);
    const network = str(proxy.metadata.NETWORK);
    const name = autoRegisteredName(group, ip, network);
    const key = `${proxy.namespace}/${name}`;
    const existing = this.entries.get(key);
    if (existing?.cleanup) clearTimeout(existing.cleanup);
    const entry = this.entryFromGroup(wg, proxy, name, ip, network);
    this.entries.set(key, { entry, connections: (existing?.connections ?? 0) + 1 });
    this.publish();
    if (!existing) this.log(`discovery: auto-registered WorkloadEntry ${key} (WorkloadGroup ${group}) for ${proxy.id}`);
  }

  /** The proxy's stream closed: after its last one, the entry is deleted once the grace period ends. */
  disconnect(proxy: Proxy): void {
    const group = WorkloadAutoRegistration.groupOf(proxy);
    const ip = proxy.ipAddresses[0];
    if (!group || !ip || this.closed) return;
    const key = `${proxy.namespace}/${autoRegisteredName(group, ip, str(proxy.metadata.NETWORK))}`;
    const reg = this.entries.get(key);
    if (!reg) return;
    reg.connections = Math.max(0, reg.connections - 1);
    if (reg.connections > 0) return;
    reg.entry = this.annotate(reg.entry, { [DISCONNECTED_AT_ANNOTATION]: new Date().toISOString() });
    this.publish();
    reg.cleanup = setTimeout(() => {
      if (this.entries.get(key) !== reg || reg.connections > 0) return;
      this.entries.delete(key);
      this.publish();
      this.log(`discovery: removed auto-registered WorkloadEntry ${key} (disconnected for ${this.graceMs} ms)`);
    }, this.graceMs);
    reg.cleanup.unref();
  }

  /** Auto-registered entries now (for tests and debug pages). */
  list(): Resource<"WorkloadEntry">[] {
    return [...this.entries.values()].map((r) => r.entry);
  }

  /** Stops the cleanup timers (entries stay in the store until the process ends). */
  close(): void {
    this.closed = true;
    for (const r of this.entries.values()) if (r.cleanup) clearTimeout(r.cleanup);
  }

  private entryFromGroup(wg: Resource<"WorkloadGroup">, proxy: Proxy, name: string, ip: string, network: string): Resource<"WorkloadEntry"> {
    const tmpl = wg.spec.template ?? {};
    const labels: Record<string, string> = { ...(tmpl.labels ?? {}), ...(wg.spec.metadata?.labels ?? {}), ...proxy.labels };
    delete labels[LOCALITY_LABEL];
    const locality = localityString(proxy.locality);
    const spec: Resource<"WorkloadEntry">["spec"] = { ...tmpl, address: ip, labels };
    if (network) spec.network = network;
    if (locality) spec.locality = locality;
    return {
      apiVersion: "networking.istio.io/v1",
      kind: "WorkloadEntry",
      metadata: {
        name,
        namespace: proxy.namespace,
        labels,
        annotations: {
          [AUTO_REGISTRATION_GROUP_ANNOTATION]: wg.metadata.name,
          ...(wg.spec.metadata?.annotations ?? {}),
          [CONNECTED_AT_ANNOTATION]: new Date().toISOString(),
          [WORKLOAD_CONTROLLER_ANNOTATION]: this.controller,
        },
      },
      spec,
    };
  }

  private annotate(entry: Resource<"WorkloadEntry">, extra: Record<string, string>): Resource<"WorkloadEntry"> {
    return { ...entry, metadata: { ...entry.metadata, annotations: { ...entry.metadata.annotations, ...extra } } };
  }

  private publish(): void {
    this.store.replaceSource(AUTO_REGISTRATION_SOURCE, this.list());
  }
}
