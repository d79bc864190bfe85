// Istio's semantic validation for DestinationRule (pilot's ValidateDestinationRule, validateTrafficPolicy,
// validateLoadBalancer, validateConnectionPool, validateOutlierDetection, agent.ValidateTLS and
// agent.ValidateLocalityLbSetting). The CRD schema already enforces enums, one-of groups, the 1ms
// minimum of most durations, warmup ranges and workloadSelector wildcards; what is left is here.
// The exportTo and connection-pool checks are shared with ServiceEntry and Sidecar.
import type { Resource, Subset, TrafficPolicy } from "../resource.js";
import { checkDuration, checkFQDN, checkLabels, checkPort, checkWildcardDomain, isDNS1123Label, isIPAddress } from "./common.js";
import type { SemanticValidator, ValidationContext } from "./context.js";
import { validateExportTo } from "./exportto.js";

type ConnectionPool = NonNullable<TrafficPolicy["connectionPool"]>;
type LoadBalancer = NonNullable<TrafficPolicy["loadBalancer"]>;
type LocalityLbSetting = NonNullable<LoadBalancer["localityLbSetting"]>;
type OutlierDetection = NonNullable<TrafficPolicy["outlierDetection"]>;
type ClientTLS = NonNullable<TrafficPolicy["tls"]>;
type PortTrafficPolicy = NonNullable<TrafficPolicy["portLevelSettings"]>[number];

const TOPOLOGY_LABELS = ["topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone"];
const CONFIGMAP_PREFIX = "configmap://";
/** Envoy's upper bound for the Maglev table (exclusive). */
const MAGLEV_MAX_TABLE_SIZE = 5000011;

/** Reports a malformed duration (Istio's ValidateDuration: >= 1ms, whole milliseconds). */
export function durationField(ctx: ValidationContext, path: string, value: string | undefined, opts: { allowZero?: boolean } = {}): void {
  if (value === undefined) return;
  const e = checkDuration(value, opts);
  if (e) ctx.error("TSMESH_INVALID_DURATION", path, `${e} (e.g. "5s" or "250ms")`);
}

function nonNegative(ctx: ValidationContext, path: string, value: number | undefined, what: string): void {
  if (value !== undefined && value < 0) ctx.error("TSMESH_INVALID_POLICY", path, `${what} must be non-negative, got ${value}`);
}

/** Istio's validateConnectionPool, used by DestinationRule and Sidecar (inbound pools). */
export function validateConnectionPool(ctx: ValidationContext, path: string, pool: ConnectionPool | undefined): void {
  if (!pool) return;
  if (!pool.http && !pool.tcp) {
    ctx.error("TSMESH_INVALID_POLICY", path, "connection pool must set at least one of http or tcp");
    return;
  }
  const http = pool.http;
  if (http) {
    const p = `${path}.http`;
    nonNegative(ctx, `${p}.http1MaxPendingRequests`, http.http1MaxPendingRequests, "http1MaxPendingRequests");
    nonNegative(ctx, `${p}.http2MaxRequests`, http.http2MaxRequests, "http2MaxRequests");
    nonNegative(ctx, `${p}.maxRequestsPerConnection`, http.maxRequestsPerConnection, "maxRequestsPerConnection");
    nonNegative(ctx, `${p}.maxRetries`, http.maxRetries, "maxRetries");
    nonNegative(ctx, `${p}.maxConcurrentStreams`, http.maxConcurrentStreams, "maxConcurrentStreams");
    durationField(ctx, `${p}.idleTimeout`, http.idleTimeout);
    durationField(ctx, `${p}.http2KeepAlive.interval`, http.http2KeepAlive?.interval);
    durationField(ctx, `${p}.http2KeepAlive.timeout`, http.http2KeepAlive?.timeout);
    if (http.h2UpgradePolicy === "UPGRADE" && http.useClientProtocol)
      ctx.error("TSMESH_INVALID_POLICY", `${p}.useClientProtocol`, "useClientProtocol cannot be true when h2UpgradePolicy is UPGRADE; drop one of them");
  }
  const tcp = pool.tcp;
  if (tcp) {
    const p = `${path}.tcp`;
    nonNegative(ctx, `${p}.maxConnections`, tcp.maxConnections, "maxConnections");
    durationField(ctx, `${p}.connectTimeout`, tcp.connectTimeout);
    durationField(ctx, `${p}.maxConnectionDuration`, tcp.maxConnectionDuration);
    // "0s" disables the idle timeout entirely.
    durationField(ctx, `${p}.idleTimeout`, tcp.idleTimeout, { allowZero: true });
    durationField(ctx, `${p}.tcpKeepalive.time`, tcp.tcpKeepalive?.time);
    durationField(ctx, `${p}.tcpKeepalive.interval`, tcp.tcpKeepalive?.interval);
  }
}

function validateOutlierDetection(ctx: ValidationContext, path: string, od: OutlierDetection | undefined): void {
  if (!od) return;
  durationField(ctx, `${path}.baseEjectionTime`, od.baseEjectionTime);
  durationField(ctx, `${path}.interval`, od.interval);
  if (od.consecutiveErrors !== undefined && od.consecutiveErrors !== 0)
    ctx.warn("TSMESH_DEPRECATED", `${path}.consecutiveErrors`, "consecutiveErrors is deprecated; use consecutive5xxErrors or consecutiveGatewayErrors");
  if (!od.splitExternalLocalOriginErrors && (od.consecutiveLocalOriginFailures ?? 0) > 0)
    ctx.error(
      "TSMESH_INVALID_POLICY",
      `${path}.consecutiveLocalOriginFailures`,
      "consecutiveLocalOriginFailures only takes effect with splitExternalLocalOriginErrors: true",
    );
  for (const field of ["maxEjectionPercent", "minHealthPercent"] as const) {
    const v = od[field];
    if (v !== undefined && (v < 0 || v > 100)) ctx.error("TSMESH_INVALID_POLICY", `${path}.${field}`, `percentage ${v} is not in range 0..100`);
  }
}

/** Envoy's primality test for the Maglev table size. */
function isPrime(x: number): boolean {
  if (x !== 0 && x < 4) return true;
  if (x % 2 === 0) return false;
  const limit = Math.floor(Math.sqrt(x));
  for (let f = 3; f <= limit; f += 2) if (x % f === 0) return false;
  return true;
}

/** Splits `region/zone/subzone` (at most 3 parts; the last one keeps further slashes). */
function localityParts(locality: string): string[] {
  const parts = locality.split("/");
  return parts.length <= 3 ? parts : [parts[0], parts[1], parts.slice(2).join("/")];
}

/** Istio's validateLocalities: well-formed (wildcard only at the end) and no overlapping entries. Returns an error message. */
function checkLocalities(localities: string[]): string | undefined {
  // region -> zone -> subzone; "*" marks "everything below".
  const tree = new Map<string, Map<string, Set<string>>>();
  for (const locality of localities) {
    const stars = locality.split("*").length - 1;
    if (stars > 1 || (stars === 1 && !locality.endsWith("*")))
      return `locality ${JSON.stringify(locality)}: a '*' wildcard may appear only once, at the end`;
    if (tree.has("*")) return `locality ${JSON.stringify(locality)} overlaps with a previous entry`;
    const parts = localityParts(locality);
    if (parts.some((p) => p === "")) return `locality ${JSON.stringify(locality)} must not contain an empty region/zone/subzone`;
    const [region, zone, subzone] = parts;
    const zones = tree.get(region);
    const overlap = () => `locality ${JSON.stringify(locality)} overlaps with a previous entry`;
    if (parts.length === 1) {
      if (zones) return overlap();
      tree.set(region, new Map([["*", new Set(["*"])]]));
    } else if (parts.length === 2) {
      if (!zones) tree.set(region, new Map([[zone, new Set(["*"])]]));
      else {
        if (zones.has("*") || zones.has(zone)) return overlap();
        zones.set(zone, new Set(["*"]));
      }
    } else if (!zones) tree.set(region, new Map([[zone, new Set([subzone])]]));
    else {
      if (zones.has("*")) return overlap();
      const subs = zones.get(zone);
      if (!subs) zones.set(zone, new Set([subzone]));
      else {
        if (subs.has("*") || subs.has(subzone)) return overlap();
        subs.add(subzone);
      }
    }
  }
  return undefined;
}

function validateLocalityLbSetting(ctx: ValidationContext, path: string, lb: LocalityLbSetting | undefined, outlier: OutlierDetection | undefined): void {
  if (!lb) return;
  const distribute = lb.distribute ?? [];
  const failover = lb.failover ?? [];
  const priority = lb.failoverPriority ?? [];
  if (distribute.length > 0 && failover.length > 0) {
    ctx.error("TSMESH_INVALID_POLICY", path, "distribute and failover cannot be set together; use one of them");
    return;
  }
  if (failover.length > 0) {
    const i = priority.findIndex((l) => TOPOLOGY_LABELS.includes(l));
    if (i >= 0) {
      ctx.error(
        "TSMESH_INVALID_POLICY",
        `${path}.failoverPriority[${i}]`,
        `failoverPriority cannot use the topology label ${JSON.stringify(priority[i])} together with failover`,
      );
      return;
    }
  }
  for (let i = 0; i < distribute.length; i++) {
    const d = distribute[i];
    const p = `${path}.distribute[${i}]`;
    let total = 0;
    let badWeight = false;
    for (const [loc, w] of Object.entries(d.to ?? {})) {
      if (w <= 0 || w > 100) {
        ctx.error("TSMESH_INVALID_WEIGHT", `${p}.to[${loc}]`, `locality weight ${w} must be in range [1, 100]`);
        badWeight = true;
      }
      total += w;
    }
    if (badWeight) return;
    if (total !== 100) {
      ctx.error("TSMESH_INVALID_WEIGHT", `${p}.to`, `locality weights add up to ${total}; they must add up to 100`);
      return;
    }
    const e = checkLocalities(Object.keys(d.to ?? {}));
    if (e) ctx.error("TSMESH_INVALID_POLICY", `${p}.to`, e);
  }
  if (distribute.length > 0) {
    const e = checkLocalities(distribute.map((d) => d.from ?? ""));
    if (e) ctx.error("TSMESH_INVALID_POLICY", `${path}.distribute`, e);
  }
  if ((failover.length > 0 || priority.length > 0) && !outlier)
    ctx.warn("TSMESH_SUSPICIOUS", path, "failover only happens with outlier detection; add an outlierDetection policy");
  for (let i = 0; i < failover.length; i++) {
    const { from = "", to = "" } = failover[i];
    const p = `${path}.failover[${i}]`;
    if (from === to) ctx.error("TSMESH_INVALID_POLICY", p, `failover from and to must be different regions (both are ${JSON.stringify(from)})`);
    if (from.includes("/") || to.includes("/")) ctx.error("TSMESH_INVALID_POLICY", p, "failover from and to must be regions, without zone or subzone");
    if (from.includes("*") || to.includes("*")) ctx.error("TSMESH_INVALID_POLICY", p, "failover regions must not contain a '*' wildcard");
  }
}

function validateLoadBalancer(ctx: ValidationContext, path: string, lb: LoadBalancer | undefined, outlier: OutlierDetection | undefined): void {
  if (!lb) return;
  const ch = lb.consistentHash;
  if (ch) {
    const p = `${path}.consistentHash`;
    if (ch.minimumRingSize !== undefined && ch.minimumRingSize !== 0) {
      ctx.warn("TSMESH_DEPRECATED", `${p}.minimumRingSize`, "minimumRingSize is deprecated; use ringHash.minimumRingSize");
      if (ch.ringHash || ch.maglev)
        ctx.error("TSMESH_INVALID_POLICY", `${p}.minimumRingSize`, "minimumRingSize cannot be combined with ringHash or maglev");
    }
    if (ch.maglev) {
      const size = ch.maglev.tableSize ?? 0;
      const mp = `${p}.maglev.tableSize`;
      if (size === 0) ctx.error("TSMESH_INVALID_POLICY", mp, "tableSize must be set for maglev (a prime such as 65537)");
      else if (size >= MAGLEV_MAX_TABLE_SIZE) ctx.error("TSMESH_INVALID_POLICY", mp, `tableSize must be less than ${MAGLEV_MAX_TABLE_SIZE}`);
      else if (!isPrime(size)) ctx.error("TSMESH_INVALID_POLICY", mp, `tableSize ${size} must be a prime number (e.g. 65537)`);
    }
    if (ch.httpHeaderName === "") ctx.error("TSMESH_INVALID_POLICY", `${p}.httpHeaderName`, "httpHeaderName must not be empty");
    if (ch.httpQueryParameterName === "")
      ctx.error("TSMESH_INVALID_POLICY", `${p}.httpQueryParameterName`, "httpQueryParameterName must not be empty");
    if (ch.httpCookie) {
      if (ch.httpCookie.name === "") ctx.error("TSMESH_INVALID_POLICY", `${p}.httpCookie.name`, "name is required for httpCookie");
      if (ch.httpCookie.ttl !== undefined) durationField(ctx, `${p}.httpCookie.ttl`, ch.httpCookie.ttl, { allowZero: true });
    }
  }
  validateLocalityLbSetting(ctx, `${path}.localityLbSetting`, lb.localityLbSetting, outlier);
  if (lb.warmup) {
    durationField(ctx, `${path}.warmup.duration`, lb.warmup.duration);
    const a = lb.warmup.aggression;
    if (a !== undefined && a < 1) ctx.error("TSMESH_INVALID_POLICY", `${path}.warmup.aggression`, `aggression must be at least 1 (1 is linear), got ${a}`);
  }
  if (lb.warmupDurationSecs !== undefined) {
    durationField(ctx, `${path}.warmupDurationSecs`, lb.warmupDurationSecs);
    ctx.warn("TSMESH_DEPRECATED", `${path}.warmupDurationSecs`, "warmupDurationSecs is deprecated; use warmup.duration");
  }
}

/** Istio's agent.ValidateTLS for client (upstream) TLS settings. */
function validateClientTLS(ctx: ValidationContext, path: string, tls: ClientTLS | undefined, namespace: string): void {
  if (!tls) return;
  const cred = tls.credentialName ?? "";
  if (cred.startsWith(CONFIGMAP_PREFIX)) {
    const parts = cred.slice(CONFIGMAP_PREFIX.length).split("/");
    const bad = parts.length > 2 || parts.some((s) => s === "");
    const ns = parts.length === 2 ? parts[0] : namespace;
    if (bad) ctx.error("TSMESH_INVALID_POLICY", `${path}.credentialName`, `invalid configmap:// credentialName ${JSON.stringify(cred)}: use configmap://name or configmap://namespace/name`);
    else if (ns !== namespace)
      ctx.error("TSMESH_INVALID_POLICY", `${path}.credentialName`, `configmap:// credentialName must be in the resource's namespace ${JSON.stringify(namespace)}`);
  }
  if (tls.insecureSkipVerify) {
    if (tls.mode === "SIMPLE" && (tls.caCertificates || cred || tls.subjectAltNames))
      ctx.error("TSMESH_INVALID_POLICY", `${path}.insecureSkipVerify`, "caCertificates, credentialName and subjectAltNames cannot be set when insecureSkipVerify is true");
    if (tls.mode === "MUTUAL" && (tls.caCertificates || tls.subjectAltNames))
      ctx.error("TSMESH_INVALID_POLICY", `${path}.insecureSkipVerify`, "caCertificates and subjectAltNames cannot be set when insecureSkipVerify is true");
  }
  if ((tls.mode === "SIMPLE" || tls.mode === "MUTUAL") && cred) {
    if (tls.clientCertificate || tls.caCertificates || tls.privateKey || tls.caCrl)
      ctx.error(
        "TSMESH_INVALID_POLICY",
        `${path}.credentialName`,
        "credentialName cannot be combined with clientCertificate, privateKey, caCertificates or caCrl: the credential holds them",
      );
    return;
  }
  if (tls.mode === "MUTUAL") {
    if (!tls.clientCertificate) ctx.error("TSMESH_INVALID_POLICY", `${path}.clientCertificate`, "clientCertificate is required for MUTUAL TLS (or set credentialName)");
    if (!tls.privateKey) ctx.error("TSMESH_INVALID_POLICY", `${path}.privateKey`, "privateKey is required for MUTUAL TLS (or set credentialName)");
  }
}

function validatePortLevelSettings(ctx: ValidationContext, path: string, settings: PortTrafficPolicy[] | undefined, namespace: string): void {
  const seen = new Map<number, number>();
  (settings ?? []).forEach((s, i) => {
    const p = `${path}[${i}]`;
    const num = s.port?.number;
    if (!s.port || num === undefined || num === 0) ctx.error("TSMESH_INVALID_PORT", `${p}.port`, "a port-level traffic policy needs port.number");
    else {
      const e = checkPort(num);
      if (e) ctx.error("TSMESH_INVALID_PORT", `${p}.port.number`, e);
      const first = seen.get(num);
      if (first !== undefined)
        ctx.warn("TSMESH_SUSPICIOUS", `${p}.port.number`, `port ${num} already has settings at ${path}[${first}]; only one of them applies`);
      else seen.set(num, i);
    }
    if (!s.outlierDetection && !s.connectionPool && !s.loadBalancer && !s.tls) {
      ctx.error("TSMESH_INVALID_POLICY", p, "port traffic policy must set at least one of connectionPool, loadBalancer, outlierDetection or tls");
      return;
    }
    validateOutlierDetection(ctx, `${p}.outlierDetection`, s.outlierDetection);
    validateConnectionPool(ctx, `${p}.connectionPool`, s.connectionPool);
    validateLoadBalancer(ctx, `${p}.loadBalancer`, s.loadBalancer, s.outlierDetection);
    validateClientTLS(ctx, `${p}.tls`, s.tls, namespace);
  });
}

function validateTrafficPolicy(ctx: ValidationContext, path: string, tp: TrafficPolicy | undefined, namespace: string): void {
  if (!tp) return;
  if (!tp.outlierDetection && !tp.connectionPool && !tp.loadBalancer && !tp.tls && !tp.portLevelSettings && !tp.tunnel && !tp.proxyProtocol && !tp.retryBudget) {
    ctx.error("TSMESH_INVALID_POLICY", path, "traffic policy must set at least one field");
    return;
  }
  if (tp.tunnel && tp.proxyProtocol) {
    ctx.error("TSMESH_INVALID_POLICY", path, "tunnel and proxyProtocol cannot be set together");
    return;
  }
  validateOutlierDetection(ctx, `${path}.outlierDetection`, tp.outlierDetection);
  validateConnectionPool(ctx, `${path}.connectionPool`, tp.connectionPool);
  validateLoadBalancer(ctx, `${path}.loadBalancer`, tp.loadBalancer, tp.outlierDetection);
  validateClientTLS(ctx, `${path}.tls`, tp.tls, namespace);
  validatePortLevelSettings(ctx, `${path}.portLevelSettings`, tp.portLevelSettings, namespace);
  const tunnel = tp.tunnel;
  if (tunnel) {
    if (tunnel.protocol !== undefined && tunnel.protocol !== "" && tunnel.protocol !== "CONNECT" && tunnel.protocol !== "POST")
      ctx.error("TSMESH_INVALID_POLICY", `${path}.tunnel.protocol`, `tunnel protocol must be "CONNECT" or "POST", got ${JSON.stringify(tunnel.protocol)}`);
    if (!isIPAddress(tunnel.targetHost) && checkFQDN(tunnel.targetHost))
      ctx.error("TSMESH_INVALID_HOST", `${path}.tunnel.targetHost`, `tunnel target host ${JSON.stringify(tunnel.targetHost)} must be an FQDN or an IP address`);
    const e = checkPort(tunnel.targetPort);
    if (e) ctx.error("TSMESH_INVALID_PORT", `${path}.tunnel.targetPort`, `tunnel target port: ${e}`);
  }
  if (tp.retryBudget?.budgetInterval !== undefined) durationField(ctx, `${path}.retryBudget.budgetInterval`, tp.retryBudget.budgetInterval);
}

/** Istio's validateSubsetName. */
export function checkSubsetName(name: string): string | undefined {
  if (name === "") return "subset name must not be empty";
  if (!isDNS1123Label(name)) return `subset name ${JSON.stringify(name)} is invalid: use a DNS-1123 label (letters, digits, '-')`;
  return undefined;
}

function validateSubset(ctx: ValidationContext, path: string, subset: Subset, namespace: string): void {
  const e = checkSubsetName(subset.name);
  if (e) ctx.error("TSMESH_INVALID_VALUE", `${path}.name`, e);
  for (const le of checkLabels(subset.labels)) ctx.error("TSMESH_INVALID_SELECTOR", `${path}.labels`, le);
  validateTrafficPolicy(ctx, `${path}.trafficPolicy`, subset.trafficPolicy, namespace);
}

/** Selector label checks shared by kinds: keys non-empty without wildcards, valid label syntax; empty selector warns. */
export function validateSelectorLabels(ctx: ValidationContext, path: string, labels: Record<string, string> | undefined, appliesTo: string): void {
  if (!labels || Object.keys(labels).length === 0) {
    ctx.warn("TSMESH_SUSPICIOUS", path, `workload selector has no labels, so it ${appliesTo}`);
    return;
  }
  for (const [k, v] of Object.entries(labels)) {
    if (k === "" || k.includes("*") || v.includes("*")) {
      ctx.error("TSMESH_INVALID_SELECTOR", `${path}[${k}]`, `wildcards and empty keys are not supported in selectors: ${JSON.stringify(`${k}=${v}`)}`);
      continue;
    }
    for (const e of checkLabels({ [k]: v })) ctx.error("TSMESH_INVALID_SELECTOR", `${path}[${k}]`, e);
  }
}

export const validateDestinationRule: SemanticValidator<"DestinationRule"> = (r: Resource<"DestinationRule">, ctx) => {
  const spec = r.spec;
  const ns = r.metadata.namespace;
  const he = checkWildcardDomain(spec.host);
  if (he) ctx.error("TSMESH_INVALID_HOST", "spec.host", `${he}; use a service name such as reviews or reviews.default.svc.cluster.local`);
  validateTrafficPolicy(ctx, "spec.trafficPolicy", spec.trafficPolicy, ns);
  const names = new Map<string, number>();
  (spec.subsets ?? []).forEach((s, i) => {
    const prev = names.get(s.name);
    if (prev !== undefined) ctx.error("TSMESH_INVALID_VALUE", `spec.subsets[${i}].name`, `duplicate subset name ${JSON.stringify(s.name)} (also spec.subsets[${prev}])`);
    else names.set(s.name, i);
    validateSubset(ctx, `spec.subsets[${i}]`, s, ns);
  });
  validateExportTo(ctx, "spec.exportTo", spec.exportTo, ns, { drWithSelector: spec.workloadSelector !== undefined });
  if (spec.workloadSelector) validateSelectorLabels(ctx, "spec.workloadSelector.matchLabels", spec.workloadSelector.matchLabels, "applies to every workload in the namespace");
};
