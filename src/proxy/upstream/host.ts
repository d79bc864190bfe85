// Upstream hosts as Envoy keeps them: one Host per endpoint address, grouped into per-priority host
// sets with per-locality lists and locality weights, built from a decoded ClusterLoadAssignment
// (EDS, or a STATIC/DNS cluster's inline load_assignment).
//
// Host objects are reused by key ("address:port") across assignments, as Envoy matches existing
// hosts by address in updateDynamicHostList: request/connection counters, outlier ejection and the
// slow-start clock survive an EDS update; weight, metadata, locality, priority and EDS health are
// updated in place.
//
// Health is dynamic (outlier detection, active health checks): every change to a host's health
// bumps one process-wide generation number, and load balancers recompute their health-derived
// state (priority load, panic, healthy lists, hash tables) lazily on their next pick when it moved.
import { isIP, SocketAddress } from "node:net";
import { performance } from "node:perf_hooks";
import type * as v3 from "../../envoy/types.js";
import { XdsConfigError } from "../xds-error.js";

/** EDS health status (envoy.config.core.v3.HealthStatus); a missing status is UNKNOWN (healthy). */
export type HealthStatus = v3.HealthStatus;

const HEALTH_STATUSES: Readonly<Record<HealthStatus, true>> = { UNKNOWN: true, HEALTHY: true, UNHEALTHY: true, DRAINING: true, TIMEOUT: true, DEGRADED: true };

/**
 * The EDS part of Envoy's health flags: UNHEALTHY and TIMEOUT fail the host, DRAINING excludes it
 * (Envoy's exclude_host_in_eds_status_draining, on by default), DEGRADED degrades it; UNKNOWN and
 * HEALTHY set none — both are routable.
 */
export function edsHealthFlag(s: HealthStatus): string {
  if (s === "UNHEALTHY" || s === "TIMEOUT") return "/failed_eds_health";
  if (s === "DRAINING") return "/eds_status_draining";
  if (s === "DEGRADED") return "/degraded_eds_health";
  return "";
}

/**
 * `eds_health_status` as Envoy's /clusters?format=json reports it: read back from the host's
 * flags, so a host EDS left UNKNOWN reads HEALTHY (what `istioctl proxy-config endpoint` shows for
 * ServiceEntry/WorkloadEntry endpoints, which istiod sends without a status).
 */
export function adminEdsHealthStatus(s: HealthStatus): HealthStatus {
  if (s === "UNHEALTHY" || s === "TIMEOUT") return "UNHEALTHY";
  if (s === "DRAINING" || s === "DEGRADED") return s;
  return "HEALTHY";
}

export interface Locality {
  region: string;
  zone: string;
  subZone: string;
}

/** Envoy's default overprovisioning factor (percent). */
export const DEFAULT_OVERPROVISIONING_FACTOR = 140;
/** Envoy's proto limit on LocalityLbEndpoints.priority. */
export const MAX_PRIORITY = 128;
const UINT32_MAX = 4294967295;

let generation = 0;

/**
 * Process-wide health generation: changes whenever any host's health (EDS status, outlier ejection,
 * active health check) changes. Load balancers compare it on each pick and recompute when it moved.
 */
export function healthGeneration(): number {
  return generation;
}

/** `region/zone/subZone`, Istio's locality string. */
export function localityKeyOf(l: Locality): string {
  return `${l.region}/${l.zone}/${l.subZone}`;
}

export class Host {
  readonly address: string;
  readonly port: number;
  /** `address:port` (`[v6]:port` for IPv6), Envoy's address string: the identity used for reuse and hashing. */
  readonly key: string;
  /** load_balancing_weight (>= 1; 1 when unset). */
  weight = 1;
  locality: Locality = { region: "", zone: "", subZone: "" };
  localityKey = "//";
  priority = 0;
  /** The LbEndpoint's metadata, or undefined. */
  metadata: v3.Metadata | undefined;
  /** endpoint.hostname ("" when unset): used by `use_hostname_for_hashing` and as the SNI/Host hint. */
  hostname = "";
  /** endpoint.health_check_config.port_value, when set (active health checks go there). */
  healthCheckPort: number | undefined;
  /** `envoy.lb` metadata `hash_key` ("" when unset): overrides the key consistent hashing uses. */
  metadataHashKey = "";
  /** Requests in flight on this host (LEAST_REQUEST reads it; the router maintains it). */
  activeRequests = 0;
  /** Open upstream connections (connection pools maintain it). */
  activeConnections = 0;
  /**
   * When the host last became healthy (performance.now() ms): creation time, or when an active
   * health check last moved it to healthy. Slow start measures from here, as Envoy's last_hc_pass_time.
   */
  lastHcPassTime: number;
  private _healthStatus: HealthStatus = "UNKNOWN";
  private _ejected = false;
  private _activeHcFailed = false;

  constructor(address: string, port: number) {
    this.address = address;
    this.port = port;
    this.key = hostKey(address, port);
    this.lastHcPassTime = performance.now();
  }

  /** EDS health status. */
  get healthStatus(): HealthStatus {
    return this._healthStatus;
  }
  set healthStatus(s: HealthStatus) {
    if (s !== this._healthStatus) {
      this._healthStatus = s;
      generation++;
    }
  }

  /** Ejected by outlier detection (Envoy's FAILED_OUTLIER_CHECK). */
  get ejected(): boolean {
    return this._ejected;
  }
  set ejected(v: boolean) {
    if (v !== this._ejected) {
      this._ejected = v;
      generation++;
    }
  }

  /** Failed active health checking (Envoy's FAILED_ACTIVE_HC). */
  get activeHcFailed(): boolean {
    return this._activeHcFailed;
  }
  set activeHcFailed(v: boolean) {
    if (v !== this._activeHcFailed) {
      this._activeHcFailed = v;
      if (!v) this.lastHcPassTime = performance.now();
      generation++;
    }
  }

  /** Envoy's coarse health == Healthy: EDS HEALTHY/UNKNOWN, not ejected, not failing active HC. */
  get healthy(): boolean {
    return (this._healthStatus === "UNKNOWN" || this._healthStatus === "HEALTHY") && !this._ejected && !this._activeHcFailed;
  }

  /** Envoy's coarse health == Degraded: EDS DEGRADED and otherwise fine. */
  get degraded(): boolean {
    return this._healthStatus === "DEGRADED" && !this._ejected && !this._activeHcFailed;
  }

  /** Envoy's /clusters health_flags for this host ("healthy" when none). */
  get healthFlags(): string {
    const f: string[] = [];
    if (this._activeHcFailed) f.push("/failed_active_hc");
    if (this._ejected) f.push("/failed_outlier_check");
    const eds = edsHealthFlag(this._healthStatus);
    if (eds) f.push(eds);
    return f.length ? f.join("") : "healthy";
  }
}

/** The hosts of one locality within a priority. */
export interface LocalityHosts {
  locality: Locality;
  localityKey: string;
  /** LocalityLbEndpoints.load_balancing_weight (0 when unset: no traffic under locality-weighted LB). */
  weight: number;
  hosts: Host[];
}

/** One priority level of a cluster (Envoy's HostSet). */
export interface HostSet {
  priority: number;
  /** All hosts of the priority, in assignment order. */
  hosts: Host[];
  /** The same hosts grouped by locality (first-appearance order). */
  localities: LocalityHosts[];
  /** policy.overprovisioning_factor (percent, default 140). */
  overprovisioningFactor: number;
  /** policy.weighted_priority_health: priority health counts weights, not hosts. */
  weightedPriorityHealth: boolean;
}

export interface AssignmentOptions {
  /**
   * Reject socket addresses that are not IP literals (Envoy's rule for EDS and STATIC clusters:
   * "malformed IP address"). Off by default so a STRICT_DNS/LOGICAL_DNS load_assignment, whose
   * addresses are DNS names, validates too.
   */
  requireIp?: boolean;
}

export interface Assignment {
  /** Indexed by priority; gaps are empty host sets, as in Envoy. */
  priorities: HostSet[];
  /** Every host by key. */
  byKey: Map<string, Host>;
}

/** Envoy's address string: `1.2.3.4:80`, `[::1]:80`, `name:80`. */
export function hostKey(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

function socketAddressOf(addr: v3.Address | undefined, path: string, opts: AssignmentOptions): { address: string; port: number } {
  if (!addr) throw new XdsConfigError(path, "an endpoint needs an address");
  if (addr.pipe !== undefined) throw new XdsConfigError(`${path}.pipe`, "pipe (unix socket) addresses are not supported for upstream hosts");
  if (addr.envoyInternalAddress !== undefined) throw new XdsConfigError(`${path}.envoyInternalAddress`, "internal addresses are not supported");
  const sa = addr.socketAddress;
  if (!sa) throw new XdsConfigError(`${path}.socketAddress`, "an endpoint needs a socket address");
  const sp = `${path}.socketAddress`;
  let address = sa.address ?? "";
  if (!address) throw new XdsConfigError(`${sp}.address`, "an endpoint needs an address");
  if (sa.resolverName) throw new XdsConfigError(`${sp}.resolverName`, `custom resolver ${JSON.stringify(sa.resolverName)} is not supported`);
  if (sa.namedPort !== undefined) throw new XdsConfigError(`${sp}.namedPort`, "named ports are not supported");
  if (sa.protocol !== undefined && sa.protocol !== "TCP") throw new XdsConfigError(`${sp}.protocol`, `unsupported protocol ${JSON.stringify(sa.protocol)}`);
  const port = sa.portValue ?? 0;
  if (port < 1 || port > 65535) throw new XdsConfigError(`${sp}.portValue`, `port ${port} is out of range (1-65535)`);
  const family = isIP(address);
  if (family === 6) {
    // Envoy prints IPv6 in its canonical (inet_ntop) form; keys and ring hashes use that form.
    address = new SocketAddress({ address, family: "ipv6" }).address;
  } else if (family === 0) {
    if (opts.requireIp) throw new XdsConfigError(`${sp}.address`, `malformed IP address: ${address}`);
    if (!DNS_NAME.test(address)) throw new XdsConfigError(`${sp}.address`, `invalid host name ${JSON.stringify(address)}`);
  }
  return { address, port };
}

function localityOf(l: v3.Locality | undefined): Locality {
  return { region: l?.region ?? "", zone: l?.zone ?? "", subZone: l?.subZone ?? "" };
}

function metadataHashKey(md: v3.Metadata | undefined): string {
  return md?.filterMetadata?.["envoy.lb"]?.fields?.hash_key?.stringValue ?? "";
}

/** CLA fields the proxy does not implement: an assignment using one is refused, never half-applied. */
function rejectUnimplemented(cla: v3.ClusterLoadAssignment): void {
  if (cla.policy?.dropOverloads?.length) throw new XdsConfigError("policy.dropOverloads", "drop_overloads is not implemented by tsmesh");
  if (cla.policy?.endpointStaleAfter !== undefined) throw new XdsConfigError("policy.endpointStaleAfter", "endpoint_stale_after is not implemented by tsmesh");
  (cla.endpoints ?? []).forEach((g, i) => {
    if (g.ledsClusterLocalityConfig !== undefined) throw new XdsConfigError(`endpoints[${i}].ledsClusterLocalityConfig`, "LEDS is not implemented by tsmesh");
    if (g.loadBalancerEndpoints !== undefined) throw new XdsConfigError(`endpoints[${i}].loadBalancerEndpoints`, "load_balancer_endpoints is not implemented by tsmesh (use lb_endpoints)");
  });
}

/**
 * Turns a decoded ClusterLoadAssignment into per-priority host sets. Hosts found in `previous`
 * (by key) are reused and updated in place. Throws XdsConfigError (with a field path) for invalid
 * input: a missing or malformed address, a port outside 1-65535, pipe/internal/named-port
 * addresses, a zero load_balancing_weight, a priority above 128, weight sums above 2^32-1, an
 * unknown named endpoint, or a zero overprovisioning factor; and fields the proxy does not implement
 * (drop_overloads, endpoint_stale_after, LEDS, load_balancer_endpoints, additional addresses).
 *
 * An address that appears twice in one assignment is kept once (its first occurrence).
 */
export function hostsFromClusterLoadAssignment(cla: v3.ClusterLoadAssignment, previous?: Map<string, Host>, opts: AssignmentOptions = {}): Assignment {
  rejectUnimplemented(cla);
  let overprovisioningFactor = DEFAULT_OVERPROVISIONING_FACTOR;
  const of = cla.policy?.overprovisioningFactor;
  if (of) {
    if (!of.value) throw new XdsConfigError("policy.overprovisioningFactor", "value must be greater than 0");
    overprovisioningFactor = of.value;
  }
  const weightedPriorityHealth = cla.policy?.weightedPriorityHealth === true;
  const named = cla.namedEndpoints ?? {};

  const priorities: HostSet[] = [];
  const byKey = new Map<string, Host>();
  const setFor = (p: number): HostSet => {
    while (priorities.length <= p) {
      priorities.push({ priority: priorities.length, hosts: [], localities: [], overprovisioningFactor, weightedPriorityHealth });
    }
    return priorities[p];
  };
  // Locality index per priority: key -> LocalityHosts.
  const localityIndex: Map<string, LocalityHosts>[] = [];

  const groups = cla.endpoints ?? [];
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i];
    const gp = `endpoints[${i}]`;
    const priority = g.priority ?? 0;
    if (priority > MAX_PRIORITY) throw new XdsConfigError(`${gp}.priority`, `priority ${priority} must be between 0 and ${MAX_PRIORITY}`);
    const locality = localityOf(g.locality);
    const localityKey = localityKeyOf(locality);
    // A wrapper decoded from `{ value: 0 }` is `{}`: present means its value, 0 when unset.
    const lw = g.loadBalancingWeight ? (g.loadBalancingWeight.value ?? 0) : undefined;
    if (lw !== undefined && lw < 1) throw new XdsConfigError(`${gp}.loadBalancingWeight`, "value must be greater than or equal to 1");
    const set = setFor(priority);
    const index = (localityIndex[priority] ??= new Map());
    let lh = index.get(localityKey);
    if (!lh) {
      lh = { locality, localityKey, weight: lw ?? 0, hosts: [] };
      index.set(localityKey, lh);
      set.localities.push(lh);
    } else if (lw !== undefined) {
      // The same locality listed twice in a priority: hosts merge, the last weight wins (as Envoy).
      lh.weight = lw;
    }

    const lbEndpoints = g.lbEndpoints ?? [];
    let weightSum = 0;
    for (let j = 0; j < lbEndpoints.length; j++) {
      const e = lbEndpoints[j];
      const ep = `${gp}.lbEndpoints[${j}]`;
      let endpoint = e.endpoint;
      let endpointPath = `${ep}.endpoint`;
      if (endpoint === undefined && e.endpointName) {
        endpoint = Object.hasOwn(named, e.endpointName) ? named[e.endpointName] : undefined;
        endpointPath = `namedEndpoints[${JSON.stringify(e.endpointName)}]`;
        if (endpoint === undefined) throw new XdsConfigError(`${ep}.endpointName`, `unknown named endpoint ${JSON.stringify(e.endpointName)}`);
      }
      if (!endpoint) throw new XdsConfigError(endpointPath, "an LbEndpoint needs an endpoint");
      const { address, port } = socketAddressOf(endpoint.address, `${endpointPath}.address`, opts);
      if (endpoint.additionalAddresses?.length) throw new XdsConfigError(`${endpointPath}.additionalAddresses`, "additional addresses (happy eyeballs) are not implemented by tsmesh");
      const w = e.loadBalancingWeight ? (e.loadBalancingWeight.value ?? 0) : undefined;
      if (w !== undefined && w < 1) throw new XdsConfigError(`${ep}.loadBalancingWeight`, "value must be greater than or equal to 1");
      const weight = w ?? 1;
      const hs = e.healthStatus ?? "UNKNOWN";
      // A value the schema does not know arrives as its number.
      if (!Object.hasOwn(HEALTH_STATUSES, hs)) throw new XdsConfigError(`${ep}.healthStatus`, `unknown health status ${JSON.stringify(hs)}`);
      let hcPort: number | undefined;
      const p = endpoint.healthCheckConfig?.portValue;
      if (p !== undefined) {
        if (p > 65535) throw new XdsConfigError(`${endpointPath}.healthCheckConfig.portValue`, `port ${p} is out of range`);
        if (p > 0) hcPort = p;
      }
      const key = hostKey(address, port);
      if (byKey.has(key)) continue; // duplicate address: first occurrence wins
      weightSum += weight;
      if (weightSum > UINT32_MAX) {
        throw new XdsConfigError(`${gp}.lbEndpoints`, `the sum of weights of all upstream hosts in a locality exceeds ${UINT32_MAX}`);
      }

      const host = previous?.get(key) ?? new Host(address, port);
      host.weight = weight;
      host.locality = locality;
      host.localityKey = localityKey;
      host.priority = priority;
      host.metadata = e.metadata;
      host.metadataHashKey = metadataHashKey(e.metadata);
      host.hostname = endpoint.hostname ?? "";
      host.healthCheckPort = hcPort;
      host.healthStatus = hs;
      byKey.set(key, host);
      set.hosts.push(host);
      lh.hosts.push(host);
    }
  }

  for (const set of priorities) {
    let sum = 0;
    for (const l of set.localities) sum += l.weight;
    if (sum > UINT32_MAX) {
      throw new XdsConfigError("endpoints", `the sum of weights of all localities at priority ${set.priority} exceeds ${UINT32_MAX}`);
    }
  }
  return { priorities, byKey };
}
