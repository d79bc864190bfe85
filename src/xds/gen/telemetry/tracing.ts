// HCM `tracing` as Istio's networking/core/tracing.go builds it: the provider the merged Telemetry
// names for the listener's mode (zipkin or opentelemetry, its service resolved to the mesh's
// outbound cluster), sampling (Telemetry randomSamplingPercentage, else defaultConfig.tracing.sampling),
// Istio's service tags and dry-run policy tags plus the custom tags (Telemetry's, else
// defaultConfig.tracing.custom_tags), max path tag length. Without Telemetry tracing or a default
// provider, mesh enableTracing applies: Istio then relies on the bootstrap's Zipkin tracer at
// defaultConfig.tracing.zipkin.address; tsmesh has no bootstrap tracer, so it names that address's
// outbound cluster as the Zipkin provider, and generates no tracing when the registry lacks it.
import { lookupCluster } from "../authz/extauthz.js";
import { duration } from "../../../envoy/protos.js";
import type { envoy } from "../../../envoy/types.js";
import type { ExtensionProvider } from "../../../model/extension-providers.js";
import type { Proxy } from "../../../model/proxy.js";
import type { PushContext } from "../../../model/push-context.js";
import type { CustomTag, ListenerClass, TracingSpec } from "../../../model/telemetry.js";
import { envoyExtensionAny } from "./istio-any.js";

export type HcmTracing = envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.Tracing;
type EnvoyCustomTag = envoy.type.tracing.v3.CustomTag;

export const ZIPKIN_TRACER = "envoy.tracers.zipkin";
export const OPENTELEMETRY_TRACER = "envoy.tracers.opentelemetry";

/** A tracing outcome: the HCM config, or why a configured provider produced none (reported). */
export interface TracingResult {
  tracing?: HcmTracing;
  problem?: string;
}

/** Istio's buildServiceTags: literal tags naming the proxy's canonical service, mesh, namespace, cluster. */
function serviceTags(proxy: Proxy): EnvoyCustomTag[] {
  const md = proxy.metadata;
  const str = (v: unknown, dflt: string): string => (typeof v === "string" && v !== "" ? v : dflt);
  const lit = (tag: string, value: string): EnvoyCustomTag => ({ tag, literal: { value } });
  return [
    lit("istio.canonical_revision", str(proxy.labels["service.istio.io/canonical-revision"], "latest")),
    lit("istio.canonical_service", str(proxy.labels["service.istio.io/canonical-name"], "unknown")),
    lit("istio.mesh_id", str(md.MESH_ID, "unknown")),
    lit("istio.namespace", str(proxy.namespace, "default")),
    lit("istio.cluster_id", str(md.CLUSTER_ID, "unknown")),
  ];
}

/** Istio's optionalPolicyTags: the RBAC dry-run results, from request metadata. */
function dryRunTag(tag: string, key: string): EnvoyCustomTag {
  return { tag, metadata: { kind: { request: {} }, metadataKey: { key: "envoy.filters.http.rbac", path: [{ key }] } } };
}

const POLICY_TAGS: readonly EnvoyCustomTag[] = [
  dryRunTag("istio.authorization.dry_run.allow_policy.name", "istio_dry_run_allow_shadow_effective_policy_id"),
  dryRunTag("istio.authorization.dry_run.allow_policy.result", "istio_dry_run_allow_shadow_engine_result"),
  dryRunTag("istio.authorization.dry_run.deny_policy.name", "istio_dry_run_deny_shadow_effective_policy_id"),
  dryRunTag("istio.authorization.dry_run.deny_policy.result", "istio_dry_run_deny_shadow_engine_result"),
];

/** Telemetry / ProxyConfig custom tags as Envoy's CustomTag (literal, environment, header). */
function customTags(tags: Readonly<Record<string, CustomTag>> | undefined): EnvoyCustomTag[] {
  const out: EnvoyCustomTag[] = [];
  for (const [tag, t] of Object.entries(tags ?? {})) {
    if (t.literal) out.push({ tag, literal: { value: t.literal.value } });
    else if (t.environment) out.push({ tag, environment: { name: t.environment.name, ...(t.environment.defaultValue ? { defaultValue: t.environment.defaultValue } : {}) } });
    else if (t.header) out.push({ tag, requestHeader: { name: t.header.name, ...(t.header.defaultValue ? { defaultValue: t.header.defaultValue } : {}) } });
    // `formatter` tags need CustomTag.value, which the Envoy API tsmesh speaks lacks: reported by enforcement.
  }
  return out;
}

function allTags(proxy: Proxy, istioTags: boolean, tags: Readonly<Record<string, CustomTag>> | undefined): EnvoyCustomTag[] {
  const out = [...(istioTags ? [...serviceTags(proxy), ...POLICY_TAGS] : []), ...customTags(tags)];
  return out.sort((a, b) => (a.tag! < b.tag! ? -1 : a.tag! > b.tag! ? 1 : 0));
}

/** The node's service cluster (Istio names spans' service after it): CANONICAL_SERVICE.NAMESPACE. */
export function serviceCluster(proxy: Proxy): string {
  const svc = proxy.labels["service.istio.io/canonical-name"] ?? proxy.labels.app ?? proxy.name;
  return `${svc}.${proxy.namespace}`;
}

/** Istio's configureFromProviderConfig for the providers tsmesh implements. */
function providerTracing(push: PushContext, proxy: Proxy, p: ExtensionProvider): TracingResult {
  const base: HcmTracing = {};
  if (proxy.type === "router") base.spawnUpstreamSpan = { value: true };
  try {
    if (p.kind === "zipkin") {
      const z = p.zipkin;
      const { hostname, cluster } = lookupCluster(push, z.service, z.port);
      base.provider = {
        name: ZIPKIN_TRACER,
        typedConfig: envoyExtensionAny("envoy.config.trace.v3.ZipkinConfig", {
          collectorCluster: cluster,
          collectorEndpoint: z.path,
          ...(z.enable64bitTraceId ? {} : { traceId_128bit: true }),
          sharedSpanContext: { value: false },
          collectorEndpointVersion: "HTTP_JSON",
          collectorHostname: hostname,
        }),
      };
      if (z.maxTagLength) base.maxPathTagLength = { value: z.maxTagLength };
      return { tracing: base };
    }
    if (p.kind === "opentelemetry") {
      const o = p.opentelemetry;
      const { hostname, cluster } = lookupCluster(push, o.service, o.port);
      const headers = (hs: ReadonlyArray<{ name: string; value: string }>) => hs.map((h) => ({ header: { key: h.name, value: h.value }, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" }));
      const cfg: Record<string, unknown> = { serviceName: serviceCluster(proxy) };
      if (o.http) {
        cfg.httpService = {
          httpUri: { uri: `${hostname}${o.http.path}`, cluster, ...(o.http.timeoutMs !== undefined ? { timeout: duration(o.http.timeoutMs) } : {}) },
          ...(o.http.headers.length > 0 ? { requestHeadersToAdd: headers(o.http.headers) } : {}),
        };
      } else {
        cfg.grpcService = {
          envoyGrpc: { clusterName: cluster, authority: hostname },
          ...(o.grpc?.timeoutMs !== undefined ? { timeout: duration(o.grpc.timeoutMs) } : {}),
          ...(o.grpc && o.grpc.initialMetadata.length > 0 ? { initialMetadata: o.grpc.initialMetadata.map((h) => ({ key: h.name, value: h.value })) } : {}),
        };
      }
      base.provider = { name: OPENTELEMETRY_TRACER, typedConfig: envoyExtensionAny("envoy.config.trace.v3.OpenTelemetryConfig", cfg) };
      if (o.maxTagLength) base.maxPathTagLength = { value: o.maxTagLength };
      return { tracing: base };
    }
  } catch (e) {
    return { problem: `tracing provider ${p.name}: could not find cluster: ${(e as Error).message}` };
  }
  return { problem: `tracing provider ${p.name} is a ${p.kind} provider, which tsmesh does not implement` };
}

function withSampling(t: HcmTracing, percent: number): void {
  t.clientSampling = { value: 100 };
  t.randomSampling = { value: percent };
  t.overallSampling = { value: 100 };
}

/** Istio's configureTracingFromTelemetry for one listener class. `spec` undefined: no Telemetry tracing (mesh fallback). */
export function hcmTracing(push: PushContext, proxy: Proxy, c: ListenerClass, specs: { client: TracingSpec; server: TracingSpec } | undefined): TracingResult {
  const mesh = push.mesh.telemetry;
  if (!specs) {
    if (!mesh.enableTracing) return {};
    const [host, port] = mesh.tracing.zipkinAddress.split(":");
    const zipkin: ExtensionProvider = { name: "zipkin", kind: "zipkin", zipkin: { service: host, port: Number(port), maxTagLength: 0, enable64bitTraceId: false, path: "/api/v2/spans" } };
    const r = providerTracing(push, proxy, zipkin);
    // No Zipkin service in the registry: Envoy would report into a bootstrap cluster that goes nowhere.
    if (!r.tracing) return {};
    withSampling(r.tracing, mesh.tracing.sampling);
    r.tracing.customTags = allTags(proxy, true, mesh.tracing.customTags);
    if (mesh.tracing.maxPathTagLength) r.tracing.maxPathTagLength = { value: mesh.tracing.maxPathTagLength };
    return r;
  }
  const spec = c === "sidecar-inbound" ? specs.server : specs.client;
  if (spec.disabled) return spec.missingProvider ? { problem: `tracing provider ${spec.missingProvider} is not in the mesh config's extensionProviders` } : {};
  const r = providerTracing(push, proxy, spec.provider!);
  if (!r.tracing) return r;
  withSampling(r.tracing, spec.randomSamplingPercentage ?? mesh.tracing.sampling);
  const tags = spec.customTags && Object.keys(spec.customTags).length > 0 ? spec.customTags : mesh.tracing.customTags;
  r.tracing.customTags = allTags(proxy, spec.enableIstioTags, tags);
  if (!r.tracing.maxPathTagLength && mesh.tracing.maxPathTagLength) r.tracing.maxPathTagLength = { value: mesh.tracing.maxPathTagLength };
  return r;
}
