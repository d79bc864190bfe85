// The `status` of stored resources, as the API returns them: a registry of providers (each kind's
// status comes from whoever computes it), merged per resource. Istio's kinds get
// `validationMessages` (what analyze finds about the resource, Istio's IstioStatus field) and
// `observedGeneration`; other parts register providers for their kinds (the Gateway API's
// conditions).
import { analyze } from "../analysis/analyze.js";
import type { AnalysisMessage, Level } from "../analysis/messages.js";
import type { TelemetryAnalysisMesh } from "../analysis/telemetry.js";
import { kinds } from "../api/kinds.js";
import { resourceName, type AnyResource } from "../api/resource.js";
import type { DocumentResult } from "../api/validate.js";
import { GATEWAY_API_STATUS_KINDS, gatewayApiStatusProvider } from "../model/gateway-api/status.js";

/** What providers read: every effective resource and the mesh config; expensive results are memoized per snapshot. */
export class StatusContext {
  private readonly memos = new Map<string, unknown>();

  constructor(
    readonly resources: readonly AnyResource[],
    /** The mesh config analyze reads (root namespace, extension providers, default access logging). */
    readonly mesh: TelemetryAnalysisMesh,
  ) {}

  /** Computes `key` once per context (one analysis serves every resource of a listing). */
  memo<T>(key: string, compute: () => T): T {
    if (!this.memos.has(key)) this.memos.set(key, compute());
    return this.memos.get(key) as T;
  }
}

export type StatusProvider = (resource: AnyResource, ctx: StatusContext) => Record<string, unknown> | undefined;

export class StatusRegistry {
  private readonly providers: Array<{ kinds?: ReadonlySet<string>; provider: StatusProvider }> = [];

  /** Adds a provider for some kinds (internal kind names), or for every kind when none are given. */
  register(provider: StatusProvider, forKinds?: readonly string[]): void {
    this.providers.push({ kinds: forKinds ? new Set(forKinds) : undefined, provider });
  }

  /** The merged status of one resource (later providers' fields win), or undefined when none has any. */
  statusOf(resource: AnyResource, ctx: StatusContext): Record<string, unknown> | undefined {
    let out: Record<string, unknown> | undefined;
    for (const p of this.providers) {
      if (p.kinds && !p.kinds.has(resource.kind)) continue;
      const s = p.provider(resource, ctx);
      if (s) out = { ...out, ...s };
    }
    return out;
  }
}

/** Istio's AnalysisMessageBase level names. */
const LEVELS: Record<Level, string> = { Error: "ERROR", Warning: "WARNING", Info: "INFO" };

/** Analyze's messages about each resource of the context, by `Kind namespace/name`. */
function messagesByResource(ctx: StatusContext): Map<string, AnalysisMessage[]> {
  return ctx.memo("analysis", () => {
    const docs: DocumentResult[] = ctx.resources.map((r, index) => ({
      file: resourceName(r),
      index,
      line: 1,
      kind: r.kind,
      apiVersion: r.apiVersion,
      namespace: r.metadata.namespace,
      name: r.metadata.name,
      valid: true,
      diagnostics: [],
      resource: r,
    }));
    const out = new Map<string, AnalysisMessage[]>();
    for (const m of analyze(docs, { mesh: ctx.mesh })) {
      const list = out.get(m.resource) ?? [];
      list.push(m);
      out.set(m.resource, list);
    }
    return out;
  });
}

/** Istio's status for its own kinds: observedGeneration, and validationMessages when analyze has any. */
export const istioStatus: StatusProvider = (r, ctx) => {
  const messages = messagesByResource(ctx).get(resourceName(r)) ?? [];
  const status: Record<string, unknown> = { observedGeneration: String(r.metadata.generation ?? 1) };
  if (messages.length > 0) {
    status.validationMessages = messages.map((m) => ({
      type: { code: m.code, name: m.name },
      level: LEVELS[m.level],
      ...(m.code.startsWith("IST") ? { documentationUrl: `https://istio.io/latest/docs/reference/config/analysis/${m.code.toLowerCase()}/` } : {}),
      // Istio's status carries no text; the message says what analyze found, in tsmesh's words.
      message: m.path ? `${m.path}: ${m.message}` : m.message,
    }));
  }
  return status;
};

/** A registry with Istio's kinds' provider (the kinds whose group is *.istio.io) and the Gateway API's conditions registered. */
export function defaultStatusRegistry(): StatusRegistry {
  const registry = new StatusRegistry();
  registry.register(istioStatus, [...kinds().values()].filter((k) => k.group.endsWith(".istio.io")).map((k) => k.kind));
  registry.register(gatewayApiStatusProvider, GATEWAY_API_STATUS_KINDS);
  return registry;
}
