// AuthorizationPolicy analyzers: a selector that matches no workload (Istio's IST0127
// NoMatchingWorkloadsFound), principals or serviceAccounts naming a service account no workload
// runs as, ALLOW rules that need a peer identity on workloads whose peers may be plaintext (Istio's
// docs: principals and namespaces require mutual TLS — with DISABLE the rule never matches, with
// PERMISSIVE it never matches plaintext clients), and CUSTOM naming a provider the mesh config
// lacks. Workloads are the WorkloadEntries (tsmesh has no pods).
import type { AuthorizationRule, Resource } from "../api/resource.js";
import { AuthenticationPolicies } from "../model/authentication.js";
import { policyApplies, type AuthorizationPolicy } from "../model/authorization.js";
import type { ExtensionProvider } from "../model/extension-providers.js";
import type { AnalysisContext, Analyzer } from "./analyze.js";

interface Workload {
  namespace: string;
  labels: Record<string, string>;
  serviceAccount: string;
  name: string;
}

function workloads(ctx: AnalysisContext): Workload[] {
  return ctx.all("WorkloadEntry").map(({ resource: we }) => ({
    namespace: we.metadata.namespace,
    labels: we.spec.labels ?? {},
    serviceAccount: we.spec.serviceAccount ?? "",
    name: we.metadata.name,
  }));
}

/** What the analyzers need from the mesh config. */
export interface AuthzAnalysisMesh {
  rootNamespace: string;
  /** Undefined when analysis runs without a mesh config: CUSTOM providers are then not checked. */
  extensionProviders?: readonly ExtensionProvider[];
}

function appliesTo(p: AuthorizationPolicy, w: Workload, root: string): boolean {
  return (p.metadata.namespace === root || p.metadata.namespace === w.namespace) && policyApplies(p, w);
}

/** IST0127: a selector (or a namespace-wide policy) that no workload matches. */
function noMatchingWorkloads(mesh: AuthzAnalysisMesh): Analyzer {
  return (ctx) => {
    const ws = workloads(ctx);
    for (const at of ctx.all("AuthorizationPolicy")) {
      const p = at.resource;
      if (p.spec.targetRef || p.spec.targetRefs?.length) continue; // Gateway API targets: not workloads in files
      const sel = p.spec.selector?.matchLabels ?? {};
      if (ws.some((w) => appliesTo(p, w, mesh.rootNamespace))) continue;
      const labels = Object.keys(sel)
        .sort()
        .map((k) => `${k}=${sel[k]}`)
        .join(",");
      if (labels === "" && p.metadata.namespace === mesh.rootNamespace) continue; // mesh-wide, with no workload at all
      ctx.report("IST0127", at, `No matching workloads for this resource with the following labels: ${labels}`, labels ? "spec.selector" : undefined);
    }
  };
}

/** `TD/ns/NS/sa/SA` without wildcards → [NS, SA]. */
function principalServiceAccount(principal: string): [string, string] | undefined {
  if (principal.includes("*")) return undefined;
  const parts = principal.split("/");
  return parts.length === 5 && parts[1] === "ns" && parts[3] === "sa" ? [parts[2], parts[4]] : undefined;
}

/** TSM0002: principals / serviceAccounts naming a service account no workload uses. */
const unknownServiceAccounts: Analyzer = (ctx) => {
  const used = new Set(workloads(ctx).map((w) => `${w.namespace}/${w.serviceAccount}`));
  if (used.size === 0) return; // nothing known about workloads: nothing to compare with
  for (const at of ctx.all("AuthorizationPolicy")) {
    (at.resource.spec.rules ?? []).forEach((r, i) => {
      (r.from ?? []).forEach((f, j) => {
        const s = f.source ?? {};
        const check = (field: string, values: readonly string[] | undefined, toSa: (v: string) => [string, string] | undefined) =>
          (values ?? []).forEach((v, k) => {
            const sa = toSa(v);
            if (sa && !used.has(`${sa[0]}/${sa[1]}`)) {
              ctx.report("TSM0002", at, `no workload runs as service account ${sa[1]} in namespace ${sa[0]} (${JSON.stringify(v)} matches no peer)`, `spec.rules[${i}].from[${j}].source.${field}[${k}]`);
            }
          });
        check("principals", s.principals, principalServiceAccount);
        check("serviceAccounts", s.serviceAccounts, (v) => (v.includes("*") ? undefined : v.includes("/") ? (v.split("/", 2) as [string, string]) : [at.resource.metadata.namespace, v]));
      });
    });
  }
};

/** Fields of a rule that match the peer's mTLS identity (absent for plaintext peers). */
function identityFields(r: AuthorizationRule): string[] {
  const out = new Set<string>();
  for (const f of r.from ?? []) {
    const s = f.source ?? {};
    for (const k of ["principals", "namespaces", "serviceAccounts", "trustDomains"] as const) if (s[k]?.length) out.add(k);
  }
  for (const w of r.when ?? []) if (["source.principal", "source.namespace", "source.serviceAccount", "source.trustDomain"].includes(w.key) && w.values?.length) out.add(`when ${w.key}`);
  return [...out];
}

/** TSM0003: ALLOW rules on peer identity where peers may be plaintext. */
function identityWithoutMtls(mesh: AuthzAnalysisMesh): Analyzer {
  return (ctx) => {
    const authn = new AuthenticationPolicies(
      ctx.all("PeerAuthentication").map((x) => x.resource),
      mesh.rootNamespace,
    );
    const ws = workloads(ctx);
    for (const at of ctx.all("AuthorizationPolicy")) {
      const p = at.resource;
      if ((p.spec.action ?? "ALLOW") !== "ALLOW") continue;
      (p.spec.rules ?? []).forEach((r, i) => {
        const fields = identityFields(r);
        if (fields.length === 0) return;
        for (const mode of ["DISABLE", "PERMISSIVE"] as const) {
          const hit = ws.filter((w) => appliesTo(p, w, mesh.rootNamespace) && authn.effective(w.namespace, w.labels).mode === mode).map((w) => `${w.namespace}/${w.name}`);
          if (hit.length === 0) continue;
          const what = `${fields.join(", ")} match the peer's mTLS identity`;
          const msg =
            mode === "DISABLE"
              ? `${what}, but PeerAuthentication DISABLE makes peers of ${hit.join(", ")} plaintext: this rule never matches there (it allows nobody)`
              : `${what}; PeerAuthentication PERMISSIVE lets plaintext peers reach ${hit.join(", ")} and they have no identity: this rule never allows them (use STRICT to require mTLS)`;
          ctx.report(mode === "DISABLE" ? "TSM0003" : "TSM0004", at, msg, `spec.rules[${i}]`);
        }
      });
    }
  };
}

/** TSM0005: CUSTOM naming a provider the mesh config does not define (Istio then denies what the policy matches). */
function unknownProvider(mesh: AuthzAnalysisMesh): Analyzer {
  return (ctx) => {
    if (!mesh.extensionProviders) return;
    const providers = new Map(mesh.extensionProviders.map((p) => [p.name, p.kind]));
    for (const at of ctx.all("AuthorizationPolicy")) {
      const p: Resource<"AuthorizationPolicy"> = at.resource;
      if (p.spec.action !== "CUSTOM") continue;
      const name = p.spec.provider?.name ?? "";
      const kind = providers.get(name);
      if (kind === "envoyExtAuthzHttp" || kind === "envoyExtAuthzGrpc") continue;
      const why = kind ? `is a ${kind} provider, not envoyExtAuthzHttp or envoyExtAuthzGrpc` : `is not in the mesh config's extensionProviders (${[...providers.keys()].join(", ") || "none"})`;
      ctx.report("TSM0005", at, `provider ${JSON.stringify(name)} ${why}: requests the policy matches are denied`, "spec.provider.name");
    }
  };
}

export function authzAnalyzers(mesh: AuthzAnalysisMesh): Analyzer[] {
  return [noMatchingWorkloads(mesh), unknownServiceAccounts, identityWithoutMtls(mesh), unknownProvider(mesh)];
}
