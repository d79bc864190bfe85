// EDS for Envoy-form proxies (Istio's pilot/pkg/xds/endpoints/endpoint_builder.go): the
// ClusterLoadAssignment of an `outbound|PORT|SUBSET|HOST` EDS cluster, one LocalityLbEndpoints per
// locality, with Istio's locality priorities / weights relative to the caller when they apply.
//
// Caching across pushes: a CLA depends on the cluster, the service's endpoints, the DestinationRule
// in force, and — only when locality load balancing changes the result — the caller's locality
// (plus its labels for failoverPriority). The cache key names exactly that, so 1,000 proxies without
// locality-aware priorities share one object (encoded once). Entries survive into the next push
// only when the caller says so: `beginPush(push, { full: false, changedHosts })` keeps everything
// but the changed hosts (EDS-only pushes); a full push (config changed: DestinationRules, services…)
// clears the cache. Builds for a push that was not begun (e.g. a lagging stream still on an older
// push) never touch the shared cache; they are memoized in that push only.
import { isIP } from "node:net";
import type { ClusterLoadAssignment, Metadata } from "../../envoy/types.js";
import type { Proxy } from "../../model/proxy.js";
import type { PushContext } from "../../model/push-context.js";
import { labelsMatch, localityString, type Service, type WorkloadEndpoint } from "../../registry/model.js";
import { endpointPort } from "../../registry/registry.js";
import { destinationRuleTlsMode, endpointMetadata } from "./endpoint-metadata.js";
import { groupByLocality, localityLbEndpoints } from "./lb-endpoints.js";
import {
  applyLocalityLoadBalancer,
  effectiveLocalityLbSetting,
  failoverPriorityApplies,
  failoverPriorityKey,
  localityLbApplies,
  withTopologyLabels,
  type WeightedEndpoint,
} from "./locality.js";
import { parseClusterName } from "./names.js";
import { destinationPolicy, type DestinationPolicy } from "./traffic-policy.js";

interface EdsEndpoint extends WeightedEndpoint {
  address: string;
  port: number;
  metadata: Metadata;
}

/** What a build resolves before looking at the cache: the view's Base plus the caller's part. */
type Resolved = Base & {
  /** Set when the result depends on the caller's locality (and maybe labels). */
  caller?: { labels: Readonly<Record<string, string>> };
};

export interface BeginPushOptions {
  /** Config changed (or unknown changes): drop everything cached. */
  full: boolean;
  /** EDS-only push: hostnames whose endpoints changed (their entries are dropped, the rest kept). */
  changedHosts?: ReadonlySet<string>;
}

interface Entry {
  host: string;
  cla: ClusterLoadAssignment;
}

/** The proxy's labels for failoverPriority: node labels (else its WorkloadEntry's) with topology labels. */
function callerLabels(proxy: Proxy, push: PushContext): Readonly<Record<string, string>> {
  const labels = Object.keys(proxy.labels).length > 0 ? proxy.labels : (push.workloadLabels(proxy) ?? {});
  const network = typeof proxy.metadata.NETWORK === "string" ? proxy.metadata.NETWORK : "";
  return withTopologyLabels(labels, proxy.locality, network);
}

export class EndpointsBuilder {
  private readonly cache = new Map<string, Entry>();
  private readonly keysByHost = new Map<string, Set<string>>();
  private current: PushContext | undefined;

  /** Number of cached assignments (for tests and debug pages). */
  get size(): number {
    return this.cache.size;
  }

  /**
   * Declares the push that following builds use. `full` (or no changedHosts) clears the cache;
   * otherwise only entries for `changedHosts` are dropped and the rest stay valid for `push`.
   */
  beginPush(push: PushContext, opts: BeginPushOptions): void {
    if (opts.full || !opts.changedHosts) this.clear();
    else this.invalidate(opts.changedHosts);
    this.current = push;
  }

  /** Drops cached assignments of these hostnames. */
  invalidate(hostnames: Iterable<string>): void {
    for (const host of hostnames) {
      const keys = this.keysByHost.get(host);
      if (!keys) continue;
      for (const k of keys) this.cache.delete(k);
      this.keysByHost.delete(host);
    }
  }

  /** Drops everything. */
  clear(): void {
    this.cache.clear();
    this.keysByHost.clear();
  }

  /**
   * The ClusterLoadAssignment for `clusterName` as `proxy` sees it, or undefined when the name is
   * not an EDS cluster of a service visible to the proxy (inbound, DNS, passthrough, unknown subset…).
   */
  build(proxy: Proxy, push: PushContext, clusterName: string): ClusterLoadAssignment | undefined {
    const r = resolve(proxy, push, clusterName);
    if (!r) return undefined;
    if (push !== this.current) return push.memo(`eds/${r.key}`, () => buildAssignment(proxy, push, clusterName, r));
    const hit = this.cache.get(r.key);
    if (hit) return hit.cla;
    const cla = buildAssignment(proxy, push, clusterName, r);
    this.cache.set(r.key, { host: r.service.hostname, cla });
    let keys = this.keysByHost.get(r.service.hostname);
    if (!keys) this.keysByHost.set(r.service.hostname, (keys = new Set()));
    keys.add(r.key);
    return cla;
  }
}

/** What a cluster name resolves to for one proxy view (namespace + Sidecar scope), before the caller. */
interface Base {
  service: Service;
  port: Service["ports"][number];
  subset: string | undefined;
  dp: DestinationPolicy;
  setting: ReturnType<typeof effectiveLocalityLbSetting>;
  enableFailover: boolean;
  /** Cache key without the caller's locality/labels. */
  key: string;
}

/** A proxy's view for a push, remembered per proxy object (its labels may change between pushes). */
const views = new WeakMap<Proxy, { push: PushContext; labels: Proxy["labels"]; view: Map<string, Base | null> }>();

/** Resolved cluster names shared by every proxy with the same namespace and Sidecar scope in a push. */
function viewOf(proxy: Proxy, push: PushContext): Map<string, Base | null> {
  const v = views.get(proxy);
  if (v && v.push === push && v.labels === proxy.labels) return v.view;
  const key = `eds/view/${proxy.namespace}/${push.sidecarScope(proxy).key}`;
  const view = push.memo(key, () => new Map<string, Base | null>());
  views.set(proxy, { push, labels: proxy.labels, view });
  return view;
}

function resolveBase(proxy: Proxy, push: PushContext, clusterName: string): Base | undefined {
  const view = viewOf(proxy, push);
  let base = view.get(clusterName);
  if (base === undefined) {
    base = computeBase(proxy, push, clusterName) ?? null;
    view.set(clusterName, base);
  }
  return base ?? undefined;
}

/** Visible services by hostname for a proxy's view (memoized per push and Sidecar scope). */
function visibleServices(proxy: Proxy, push: PushContext): ReadonlyMap<string, Service> {
  const scope = push.sidecarScope(proxy);
  return push.memo(`eds/visible/${proxy.namespace}/${scope.key}`, () => new Map(push.servicesFor(proxy).map((s) => [s.hostname, s])));
}

function computeBase(proxy: Proxy, push: PushContext, clusterName: string): Base | undefined {
  const parsed = parseClusterName(clusterName);
  if (!parsed || parsed.direction !== "outbound") return undefined;
  const service = visibleServices(proxy, push).get(parsed.host);
  if (!service || service.resolution !== "STATIC") return undefined;
  const port = service.ports.find((p) => p.port === parsed.port);
  if (!port) return undefined;
  const subset = parsed.subset || undefined;
  const dp = destinationPolicy(push, proxy.namespace, service, port.port, subset);
  if (subset && !dp.subset) return undefined;
  if (dp.policy?.loadBalancer?.simple === "PASSTHROUGH") return undefined; // ORIGINAL_DST, no EDS
  const setting = effectiveLocalityLbSetting(push.mesh.localityLbEnabled, dp.policy?.loadBalancer?.localityLbSetting);
  const key = [clusterName, service.namespace, (dp.rule?.names ?? []).join(",")].join("~");
  return { service, port, subset, dp, setting, enableFailover: !!dp.policy?.outlierDetection, key };
}

function resolve(proxy: Proxy, push: PushContext, clusterName: string): Resolved | undefined {
  const b = resolveBase(proxy, push, clusterName);
  if (!b) return undefined;
  if (!localityLbApplies(b.setting, proxy, b.enableFailover)) return b;
  let key = `${b.key}~${localityString(proxy.locality)}`;
  let labels: Readonly<Record<string, string>> = {};
  if (failoverPriorityApplies(b.setting, proxy, b.enableFailover)) {
    labels = callerLabels(proxy, push);
    key += `~${failoverPriorityKey(labels, b.setting?.failoverPriority ?? [])}`;
  }
  return { ...b, key, caller: { labels } };
}

function buildAssignment(proxy: Proxy, push: PushContext, clusterName: string, r: Resolved): ClusterLoadAssignment {
  const selector = r.dp.subset?.labels;
  const drMode = destinationRuleTlsMode(r.dp.rule, r.subset, r.port.port);
  const items: { ep: WorkloadEndpoint; item: EdsEndpoint }[] = [];
  for (const ep of push.registry.endpoints(r.service)) {
    // Only IP literals: DNS names belong to DNS clusters, unix sockets are not served over EDS yet.
    if (isIP(ep.address) === 0) continue;
    if (selector && !labelsMatch(selector, ep.labels)) continue;
    const port = endpointPort(ep, r.port);
    if (port === undefined) continue; // a Service's named targetPort the workload does not have
    items.push({
      ep,
      item: {
        address: ep.address,
        port,
        metadata: endpointMetadata(push, ep, port, drMode),
        weight: ep.weight || 1,
        labels: r.caller ? withTopologyLabels(ep.labels, ep.locality, ep.network) : ep.labels,
      },
    });
  }
  let groups = groupByLocality(items);
  if (r.caller && groups.length > 0) {
    const policy = r.dp.policy;
    const setting = effectiveLocalityLbSetting(push.mesh.localityLbEnabled, policy?.loadBalancer?.localityLbSetting);
    if (setting) groups = applyLocalityLoadBalancer(groups, { locality: proxy.locality, labels: r.caller.labels }, setting, !!policy?.outlierDetection);
  }
  if (groups.length === 0) return { clusterName };
  return { clusterName, endpoints: localityLbEndpoints(groups) };
}
