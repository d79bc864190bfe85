// istiod's pilot_inbound_updates, by its `type` label: `config` for each update request that enters
// debouncing (istiod's ConfigUpdate), and, from what a store change did to the service registry,
// `svc` per service added or changed, `svcdelete` per service removed and `eds` per service whose
// endpoints changed (istiod's SvcUpdate and EDSUpdate, counted per namespace and hostname when the
// registry reports the change, before debouncing).
import type { ConfigStore } from "../config/store.js";
import type { Counter } from "../core/metrics.js";
import { registryServiceEntries } from "../registry/kube-service.js";
import { registryUpdates, ServiceRegistry } from "../registry/registry.js";

export class InboundUpdates {
  /** The registry as of the last store change counted. */
  private registry: ServiceRegistry | undefined;

  constructor(
    private readonly counter: Counter,
    private readonly store: ConfigStore,
  ) {}

  /** An update request entering debouncing. */
  config(): void {
    this.counter.inc({ type: "config" });
  }

  /** The registry the first push serves: later changes are counted against it. */
  baseline(registry: ServiceRegistry): void {
    this.registry = registry;
  }

  /** A store change touched ServiceEntries or WorkloadEntries: counts what it did to the registry. */
  registryChanged(): void {
    const next = new ServiceRegistry({ serviceEntries: registryServiceEntries([...this.store.list("ServiceEntry"), ...this.store.list("Service")]), workloadEntries: this.store.list("WorkloadEntry") });
    if (this.registry) {
      const u = registryUpdates(this.registry, next);
      if (u.services > 0) this.counter.inc({ type: "svc" }, u.services);
      if (u.deleted > 0) this.counter.inc({ type: "svcdelete" }, u.deleted);
      if (u.endpoints > 0) this.counter.inc({ type: "eds" }, u.endpoints);
    }
    this.registry = next;
  }
}
