// Telemetry analyzers: Istio's IST0157 InvalidTelemetryProvider (access logging with no provider and
// no default access-logging provider: ignored) and IST0160 MultipleTelemetriesWithoutWorkloadSelectors,
// and tsmesh's own checks of the providers a Telemetry names against the mesh config
// (`--mesh-config`, over Istio's default providers): TSM0020 a name no provider has (that part of
// the Telemetry configures nothing), TSM0021 a provider kind tsmesh does not implement (reported,
// never silently dropped), TSM0022 a zipkin/opentelemetry provider whose service no ServiceEntry of
// the analyzed files declares (no tracing is generated).
import { UNIMPLEMENTED_PROVIDERS } from "../api/enforcement.js";
import { DEFAULT_EXTENSION_PROVIDERS, type ExtensionProvider } from "../model/extension-providers.js";
import type { AnalysisContext, Analyzer } from "./analyze.js";
import type { AuthzAnalysisMesh } from "./authz.js";

/** The mesh config the telemetry checks read. */
export interface TelemetryAnalysisMesh extends AuthzAnalysisMesh {
  /** defaultProviders.accessLogging (IST0157 is about Telemetries that rely on none). */
  defaultAccessLogging?: readonly string[];
}

/** Which providers a part of a Telemetry may name, by kind. */
const SECTION_KINDS: Record<"metrics" | "accessLogging" | "tracing", ReadonlySet<string>> = {
  metrics: new Set(["prometheus", "stackdriver"]),
  accessLogging: new Set(["envoyFileAccessLog", "envoyHttpAls", "envoyTcpAls", "envoyOtelAls", "stackdriver", "opencensus"]),
  tracing: new Set(["zipkin", "opentelemetry", "datadog", "lightstep", "skywalking", "stackdriver", "opencensus"]),
};

/** IST0157: accessLogging entries without providers when the mesh has no default access-logging provider. */
function emptyProviders(mesh: TelemetryAnalysisMesh): Analyzer {
  return (ctx) => {
    if ((mesh.defaultAccessLogging ?? []).length > 0) return;
    for (const at of ctx.all("Telemetry")) {
      const t = at.resource;
      (t.spec.accessLogging ?? []).forEach((l, i) => {
        if (l.disabled === true || (l.providers ?? []).length > 0) return;
        ctx.report("IST0157", at, `The Telemetry ${t.metadata.name} in namespace "${t.metadata.namespace}" with empty providers will be ignored.`, `spec.accessLogging[${i}]`);
      });
    }
  };
}

/** IST0160: more than one Telemetry of a namespace without selector or targetRefs. */
const multipleNamespaceWide: Analyzer = (ctx) => {
  const byNs = new Map<string, ReturnType<AnalysisContext["all"]>>();
  for (const at of ctx.all("Telemetry")) {
    const s = at.resource.spec;
    if (Object.keys(s.selector?.matchLabels ?? {}).length > 0 || (s.targetRefs ?? []).length > 0 || s.targetRef) continue;
    const list = byNs.get(at.resource.metadata.namespace) ?? [];
    list.push(at);
    byNs.set(at.resource.metadata.namespace, list);
  }
  for (const [ns, list] of byNs) {
    if (list.length < 2) continue;
    const names = list.map((x) => x.resource.metadata.name).sort();
    for (const at of list) ctx.report("IST0160", at, `The Telemetries [${names.join(" ")}] in namespace "${ns}" have no workload selector, which can lead to undefined behavior.`);
  }
};

function serviceDeclared(ctx: AnalysisContext, service: string): boolean | undefined {
  const entries = ctx.all("ServiceEntry");
  if (entries.length === 0) return undefined; // nothing to look services up in
  const host = service.includes("/") ? service.slice(service.indexOf("/") + 1) : service;
  return entries.some((se) => (se.resource.spec.hosts ?? []).includes(host));
}

/** TSM0020/TSM0021/TSM0022: the providers each part of a Telemetry names. */
function providerChecks(mesh: TelemetryAnalysisMesh): Analyzer {
  return (ctx) => {
    if (!mesh.extensionProviders) return;
    const providers: ExtensionProvider[] = [...DEFAULT_EXTENSION_PROVIDERS.filter((d) => !mesh.extensionProviders!.some((p) => p.name === d.name)), ...mesh.extensionProviders];
    const find = (name: string) => providers.find((p) => p.name.toLowerCase() === name.toLowerCase());
    for (const at of ctx.all("Telemetry")) {
      for (const section of ["metrics", "accessLogging", "tracing"] as const) {
        (at.resource.spec[section] ?? []).forEach((entry, i) => {
          (entry.providers ?? []).forEach((ref, j) => {
            const path = `spec.${section}[${i}].providers[${j}].name`;
            const p = find(ref.name);
            if (!p) {
              ctx.report("TSM0020", at, `provider ${JSON.stringify(ref.name)} is not in the mesh config's extensionProviders (${providers.map((x) => x.name).join(", ")}): this ${section} entry configures nothing`, path);
              return;
            }
            if (!SECTION_KINDS[section].has(p.kind)) {
              ctx.report("TSM0020", at, `provider ${JSON.stringify(ref.name)} is a ${p.kind} provider, which does not do ${section}: this entry configures nothing`, path);
            } else if (UNIMPLEMENTED_PROVIDERS.includes(p.kind)) {
              ctx.report("TSM0021", at, `provider ${JSON.stringify(ref.name)} is a ${p.kind} provider, which tsmesh does not implement: no ${section} config is generated for it`, path);
            } else if (p.kind === "zipkin" || p.kind === "opentelemetry") {
              const svc = p.kind === "zipkin" ? p.zipkin.service : p.opentelemetry.service;
              if (serviceDeclared(ctx, svc) === false) ctx.report("TSM0022", at, `provider ${JSON.stringify(ref.name)}'s service ${svc} is declared by no ServiceEntry: no tracing is generated`, path);
            }
          });
        });
      }
    }
  };
}

export function telemetryAnalyzers(mesh: TelemetryAnalysisMesh): Analyzer[] {
  return [emptyProviders(mesh), multipleNamespaceWide, providerChecks(mesh)];
}
