// Telemetry resources (telemetry.istio.io) merged per proxy as istiod does (pilot/pkg/model/telemetry.go):
// the root namespace's namespace-wide Telemetry, then the proxy's namespace-wide one, then every
// workload-scoped one (selector or targetRefs) that selects the proxy, later entries overriding
// earlier ones. Metrics merge per provider and mode (CLIENT/SERVER) per metric with tag overrides;
// access logging picks providers (the last level naming some wins) with a CEL filter and `disabled`
// per listener mode; tracing is a shallow merge per mode (first provider only, as Istio). Mesh
// `defaultProviders` seed each list; a provider is looked up by name, case-insensitively.
import type { Resource } from "../api/resource.js";
import { compareByCreationTime } from "./authentication.js";
import { type AuthorizationPolicy, policyApplies, type PolicyWorkload } from "./authorization.js";
import type { ExtensionProvider } from "./extension-providers.js";

export type Telemetry = Resource<"Telemetry">;
type Spec = Telemetry["spec"];
type MetricsEntry = NonNullable<Spec["metrics"]>[number];
type LoggingEntry = NonNullable<Spec["accessLogging"]>[number];
type TracingEntry = NonNullable<Spec["tracing"]>[number];
export type CustomTag = NonNullable<TracingEntry["customTags"]>[string];

/** Which side of a request a listener reports as (Istio's workloadMode of a listener class). */
export type WorkloadMode = "CLIENT" | "SERVER";

/** Istio's listener classes; gateways report as clients. */
export type ListenerClass = "sidecar-inbound" | "sidecar-outbound" | "gateway";

export function workloadMode(c: ListenerClass): WorkloadMode {
  return c === "sidecar-inbound" ? "SERVER" : "CLIENT";
}

/** MetricSelector.IstioMetric without ALL_METRICS, sorted (Istio's allMetrics). */
export const ISTIO_METRICS = [
  "GRPC_REQUEST_MESSAGES",
  "GRPC_RESPONSE_MESSAGES",
  "REQUEST_COUNT",
  "REQUEST_DURATION",
  "REQUEST_SIZE",
  "RESPONSE_SIZE",
  "TCP_CLOSED_CONNECTIONS",
  "TCP_OPENED_CONNECTIONS",
  "TCP_RECEIVED_BYTES",
  "TCP_SENT_BYTES",
] as const;

/** Mesh config fields the telemetry merge reads (the rest of MeshConfig's telemetry is in TelemetryMesh). */
export interface DefaultProviders {
  metrics: readonly string[];
  accessLogging: readonly string[];
  tracing: readonly string[];
}

export interface TagOverride {
  name: string;
  remove: boolean;
  /** The CEL expression of an UPSERT. */
  value: string;
}

export interface MetricOverride {
  /** An IstioMetric name (REQUEST_COUNT) or a custom metric name. */
  name: string;
  disabled: boolean;
  tags: TagOverride[];
}

export interface ModeMetrics {
  /** ALL_METRICS disabled for this mode: no stats filter at all. */
  disabled: boolean;
  overrides: MetricOverride[];
}

export interface ProviderMetrics {
  client: ModeMetrics;
  server: ModeMetrics;
  /** reportingInterval in ms, when set. */
  reportingIntervalMs?: number;
}

export interface LoggingSpec {
  disabled: boolean;
  /** The CEL `filter.expression`, when set. */
  filter?: string;
}

export interface TracingSpec {
  provider?: ExtensionProvider;
  /** A provider name no extensionProvider has (reported; tracing is then off, as Istio). */
  missingProvider?: string;
  disabled: boolean;
  randomSamplingPercentage?: number;
  customTags?: Readonly<Record<string, CustomTag>>;
  useRequestIdForTraceSampling: boolean;
  enableIstioTags: boolean;
  disableContextPropagation: boolean;
}

/** Telemetries in a push, indexed by namespace (oldest first), as Istio's Telemetries. */
export class Telemetries {
  private readonly byNamespace = new Map<string, Telemetry[]>();

  constructor(
    telemetries: readonly Telemetry[],
    readonly rootNamespace: string,
    readonly providers: readonly ExtensionProvider[],
    readonly defaults: DefaultProviders,
  ) {
    for (const t of [...telemetries].sort(compareByCreationTime)) {
      const ns = t.metadata.namespace;
      let list = this.byNamespace.get(ns);
      if (!list) this.byNamespace.set(ns, (list = []));
      list.push(t);
    }
  }

  /** Whether any Telemetry selects workloads (selector or targetRefs): then proxies of one namespace may differ. */
  hasWorkloadScoped(): boolean {
    return this.all().some((t) => !isNamespaceWide(t.spec));
  }

  /** Every Telemetry, oldest first per namespace. */
  all(): Telemetry[] {
    return [...this.byNamespace.values()].flat();
  }

  /** Istio's fetchProvider: by name, case-insensitively. */
  provider(name: string): ExtensionProvider | undefined {
    const n = name.toLowerCase();
    return this.providers.find((p) => p.name.toLowerCase() === n);
  }

  private namespaceWide(ns: string): Telemetry | undefined {
    return this.byNamespace.get(ns)?.find((t) => isNamespaceWide(t.spec));
  }

  /** Istio's applicableTelemetries: the Telemetries for a proxy, lowest precedence first. */
  applicable(w: PolicyWorkload): Telemetry[] {
    const out: Telemetry[] = [];
    const root = this.namespaceWide(this.rootNamespace);
    if (root) out.push(root);
    if (w.namespace !== this.rootNamespace) {
      const ns = this.namespaceWide(w.namespace);
      if (ns) out.push(ns);
    }
    for (const t of this.byNamespace.get(w.namespace) ?? []) {
      if (isNamespaceWide(t.spec)) continue;
      // Telemetry's selector/targetRefs attach exactly as an AuthorizationPolicy's (Istio's shared policy matcher).
      if (policyApplies(t as unknown as AuthorizationPolicy, w)) out.push(t);
    }
    return out;
  }

  /** Istio's mergeMetrics: provider name → metrics config, for providers in scope. */
  metrics(w: PolicyWorkload): Map<string, ProviderMetrics> {
    return mergeMetrics(
      this.applicable(w).flatMap((t) => t.spec.metrics ?? []),
      this.defaults.metrics,
    );
  }

  /** Istio's mergeLogs for a listener mode; undefined when neither a Telemetry nor a default provider configures logging (mesh accessLogFile applies). */
  accessLogging(w: PolicyWorkload, mode: WorkloadMode): Map<string, LoggingSpec> | undefined {
    const levels = this.applicable(w).map((t) => t.spec.accessLogging ?? []).filter((l) => l.length > 0);
    if (levels.length === 0 && this.defaults.accessLogging.length === 0) return undefined;
    return mergeLogs(levels, this.defaults.accessLogging, mode);
  }

  /** Istio's Telemetries.Tracing: undefined when neither a Telemetry nor a default provider configures tracing (mesh enableTracing applies). */
  tracing(w: PolicyWorkload): { client: TracingSpec; server: TracingSpec } | undefined {
    const entries = this.applicable(w).flatMap((t) => t.spec.tracing ?? []);
    if (entries.length === 0 && this.defaults.tracing.length === 0) return undefined;
    const base = (): TracingSpec => ({ disabled: false, useRequestIdForTraceSampling: true, enableIstioTags: true, disableContextPropagation: false });
    const client = base();
    const server = base();
    const setProvider = (specs: TracingSpec[], name: string): void => {
      const p = this.provider(name);
      for (const s of specs) {
        s.provider = p;
        s.missingProvider = p ? undefined : name;
      }
    };
    if (this.defaults.tracing.length > 0) setProvider([client, server], this.defaults.tracing[0]);
    for (const m of entries) {
      const specs = m.match?.mode === "CLIENT" ? [client] : m.match?.mode === "SERVER" ? [server] : [client, server];
      const names = (m.providers ?? []).map((p) => p.name);
      // Only one provider per mode: the first, as Istio.
      if (names.length > 0) setProvider(specs, names[0]);
      for (const s of specs) {
        if (m.disableSpanReporting !== undefined) s.disabled = m.disableSpanReporting;
        if (m.customTags !== undefined) s.customTags = m.customTags;
        if (m.randomSamplingPercentage !== undefined) s.randomSamplingPercentage = m.randomSamplingPercentage;
        if (m.useRequestIdForTraceSampling !== undefined) s.useRequestIdForTraceSampling = m.useRequestIdForTraceSampling;
        if (m.enableIstioTags !== undefined) s.enableIstioTags = m.enableIstioTags;
        if (m.disableContextPropagation !== undefined) s.disableContextPropagation = m.disableContextPropagation;
      }
    }
    if (!client.provider) client.disabled = true;
    if (!server.provider) server.disabled = true;
    return { client, server };
  }
}

function isNamespaceWide(spec: Spec): boolean {
  return Object.keys(spec.selector?.matchLabels ?? {}).length === 0 && (spec.targetRefs ?? []).length === 0 && spec.targetRef === undefined;
}

const providerNames = (ps: ReadonlyArray<{ name: string }> | undefined): string[] => (ps ?? []).map((p) => p.name);

function modesOf(mode: string | undefined): WorkloadMode[] {
  return mode === "CLIENT" || mode === "SERVER" ? [mode] : ["CLIENT", "SERVER"];
}

type Selector = NonNullable<NonNullable<MetricsEntry["overrides"]>[number]["match"]>;

function isAllMetrics(m: Selector | undefined): boolean {
  if (m?.customMetric !== undefined) return false;
  return m?.metric === undefined || m.metric === "ALL_METRICS";
}

function matchesOf(m: Selector | undefined): readonly string[] {
  if (m?.customMetric !== undefined) return [m.customMetric];
  if (m?.metric === undefined || m.metric === "ALL_METRICS") return ISTIO_METRICS;
  return [m.metric];
}

/** Parses a protobuf Duration string ("10s", "1.5s") to ms; undefined when absent or malformed (validation refuses those). */
function durationMs(d: string | undefined): number | undefined {
  const m = d === undefined ? null : /^(\d+(?:\.\d+)?)s$/.exec(d);
  return m ? Math.round(Number(m[1]) * 1000) : undefined;
}

interface Override {
  disabled?: boolean;
  tags: Map<string, { operation?: string; value?: string }>;
}

/** Istio's mergeMetrics (a deep merge of overrides per provider, mode and metric). */
export function mergeMetrics(levels: readonly MetricsEntry[], defaults: readonly string[]): Map<string, ProviderMetrics> {
  const providers = new Map<string, Map<WorkloadMode, Map<string, Override>>>();
  if (levels.length === 0) for (const d of defaults) providers.set(d, new Map());
  let inScope: readonly string[] = defaults;
  for (const m of levels) {
    const names = providerNames(m.providers);
    if (names.length > 0) inScope = names;
  }
  const scope = new Set(inScope);
  let parent: readonly string[] = defaults;
  const disabledAll = new Set<string>();
  const intervals = new Map<string, number>();
  for (const m of levels) {
    let names: readonly string[] = providerNames(m.providers);
    if (names.length === 0) names = parent;
    parent = names;
    for (const provider of names) {
      if (!scope.has(provider)) continue;
      const interval = durationMs(m.reportingInterval);
      if (interval !== undefined) intervals.set(provider, interval);
      let modes = providers.get(provider);
      if (!modes) providers.set(provider, (modes = new Map([["CLIENT", new Map()], ["SERVER", new Map()]])));
      for (const o of m.overrides ?? []) {
        if (isAllMetrics(o.match) && o.disabled === true) {
          for (const mode of modesOf(o.match?.mode)) disabledAll.add(`${provider}/${mode}`);
          continue;
        }
        for (const mode of modesOf(o.match?.mode)) {
          disabledAll.delete(`${provider}/${mode}`);
          let metrics = modes.get(mode);
          if (!metrics) modes.set(mode, (metrics = new Map()));
          for (const name of matchesOf(o.match)) {
            const cur: Override = metrics.get(name) ?? { tags: new Map() };
            if (o.disabled !== undefined) cur.disabled = o.disabled;
            for (const [k, v] of Object.entries(o.tagOverrides ?? {})) cur.tags.set(k, v);
            metrics.set(name, cur);
          }
        }
      }
    }
  }
  const out = new Map<string, ProviderMetrics>();
  for (const [provider, modes] of providers) {
    const pm: ProviderMetrics = { client: { disabled: false, overrides: [] }, server: { disabled: false, overrides: [] } };
    const interval = intervals.get(provider);
    if (interval !== undefined) pm.reportingIntervalMs = interval;
    for (const [mode, metrics] of modes) {
      const target = mode === "CLIENT" ? pm.client : pm.server;
      if (disabledAll.has(`${provider}/${mode}`)) {
        target.disabled = true;
        continue;
      }
      for (const [name, o] of metrics) {
        const tags = [...o.tags].map(([k, v]): TagOverride => (v.operation === "REMOVE" ? { name: k, remove: true, value: "" } : { name: k, remove: false, value: v.value ?? "" }));
        tags.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        target.overrides.push({ name, disabled: o.disabled === true, tags });
      }
    }
    const byName = (a: MetricOverride, b: MetricOverride): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    pm.client.overrides.sort(byName);
    pm.server.overrides.sort(byName);
    out.set(provider, pm);
  }
  return out;
}

function matchMode(m: LoggingEntry["match"], mode: WorkloadMode): boolean {
  return m?.mode === undefined || m.mode === "CLIENT_AND_SERVER" || m.mode === mode;
}

/** Istio's mergeLogs: provider name → its logging spec for this mode (levels lowest precedence first). */
export function mergeLogs(levels: ReadonlyArray<readonly LoggingEntry[]>, defaults: readonly string[], mode: WorkloadMode): Map<string, LoggingSpec> {
  const out = new Map<string, LoggingSpec>();
  if (levels.length === 0) {
    for (const d of defaults) out.set(d, { disabled: false });
    return out;
  }
  let names: readonly string[] = defaults;
  const filters = new Map<string, LoggingSpec>();
  for (const level of levels) {
    const here = new Set<string>();
    for (const p of level) {
      if (!matchMode(p.match, mode)) continue;
      for (const prov of providerNames(p.providers)) {
        here.add(prov);
        filters.set(prov, p.filter?.expression !== undefined ? { disabled: false, filter: p.filter.expression } : { disabled: false });
      }
    }
    if (here.size > 0) names = [...here];
  }
  const scope = new Set(names);
  let parent: readonly string[] = defaults;
  for (const level of levels) {
    for (const m of level) {
      let ps: readonly string[] = providerNames(m.providers);
      if (ps.length === 0) ps = parent;
      parent = ps;
      for (const p of ps) {
        if (!scope.has(p) || !matchMode(m.match, mode)) continue;
        out.set(p, m.disabled === true ? { disabled: true } : (filters.get(p) ?? { disabled: false }));
      }
    }
  }
  return out;
}

/** ProxyConfig.tracing (mesh defaultConfig.tracing) as tsmesh reads it. */
export interface ProxyTracing {
  /** Percent of requests sampled (PILOT_TRACE_SAMPLING's 1.0 when unset). */
  sampling: number;
  /** zipkin.address `HOST:PORT` (Istio's default zipkin.istio-system:9411). */
  zipkinAddress: string;
  maxPathTagLength?: number;
  customTags?: Readonly<Record<string, CustomTag>>;
}

/** The MeshConfig fields of telemetry. */
export interface TelemetryMesh {
  /** accessLogFile: "" is off (Istio's default). */
  accessLogFile: string;
  accessLogEncoding: "TEXT" | "JSON";
  accessLogFormat: string;
  enableTracing: boolean;
  tracing: ProxyTracing;
  defaultProviders: DefaultProviders;
}

/**
 * Istio's defaults: no access log, tracing on through the zipkin address at 1%, and Prometheus
 * metrics from every proxy (the `defaultProviders.metrics: [prometheus]` Istio's installation sets).
 */
export const DEFAULT_TELEMETRY_MESH: TelemetryMesh = {
  accessLogFile: "",
  accessLogEncoding: "TEXT",
  accessLogFormat: "",
  enableTracing: true,
  tracing: { sampling: 1, zipkinAddress: "zipkin.istio-system:9411" },
  defaultProviders: { metrics: ["prometheus"], accessLogging: [], tracing: [] },
};
