// Analyzers for RequestAuthentication: JWT rules whose keys cannot be fetched (the resolver's last
// result for each (issuer, jwksUri): istiod inlines a JWKS no token verifies against, so every token
// of that issuer is rejected), and Istio's JWTClaimRouteAnalyzer (IST0149): a VirtualService routing
// on `@request.auth.claims…` bound to a gateway whose workloads no RequestAuthentication applies to,
// so the claims the route needs are never there. Workloads are WorkloadEntries (Istio's pods).
import { resolveGatewayName } from "../api/hosts.js";
import { labelsMatch } from "../registry/model.js";
import { jwksUriOf, RequestAuthentications } from "../model/request-authentication.js";
import { routingClaim } from "../xds/gen/jwt-claims.js";
import type { AnalysisContext, Analyzer } from "./analyze.js";

/** What fetching one (issuer, jwksUri) last gave: the control plane resolver's JwksStatus. */
export interface JwksCheck {
  state: "pending" | "ok" | "failed";
  error?: string;
}

/** The last fetch result for a rule's keys, when the caller fetched them (analyze's --jwks check, the control plane). */
export type JwksLookup = (issuer: string, jwksUri: string) => JwksCheck | undefined;

/** Istio's root namespace as the analyzers assume it (constants.IstioSystemNamespace). */
const ROOT_NAMESPACE = "istio-system";

/** The (issuer, jwksUri) pairs the control plane would fetch: rules without inline `jwks`. */
export function fetchedJwks(ras: ReadonlyArray<{ spec: { jwtRules?: ReadonlyArray<{ issuer?: string; jwks?: string; jwksUri?: string; jwks_uri?: string }> } }>): Array<{ issuer: string; jwksUri: string }> {
  const seen = new Map<string, { issuer: string; jwksUri: string }>();
  for (const ra of ras) {
    for (const r of ra.spec.jwtRules ?? []) {
      if (r.jwks) continue;
      const k = { issuer: r.issuer ?? "", jwksUri: jwksUriOf(r) };
      seen.set(`${k.issuer}\u0000${k.jwksUri}`, k);
    }
  }
  return [...seen.values()];
}

export function jwksUnreachable(lookup: JwksLookup | undefined): Analyzer {
  return (ctx: AnalysisContext) => {
    if (!lookup) return;
    for (const ra of ctx.all("RequestAuthentication")) {
      (ra.resource.spec.jwtRules ?? []).forEach((r, i) => {
        if (r.jwks) return;
        const uri = jwksUriOf(r);
        const st = lookup(r.issuer ?? "", uri);
        if (st?.state !== "failed") return;
        const what = uri ? `jwksUri ${uri}` : `the OpenID discovery document of issuer ${r.issuer ?? ""}`;
        const path = uri ? `spec.jwtRules[${i}].${r.jwksUri !== undefined ? "jwksUri" : "jwks_uri"}` : `spec.jwtRules[${i}].issuer`;
        ctx.report(
          "TSM0001",
          ra,
          `${what} cannot be fetched: ${st.error ?? "unknown error"}; when the control plane fetches it, tokens of issuer ${JSON.stringify(r.issuer ?? "")} are rejected until it can`,
          path,
        );
      });
    }
  };
}

/** Istio's routeBasedOnJWTClaimKey: the first claim key of a VirtualService's matches. */
function claimKey(vs: { spec: { http?: ReadonlyArray<{ match?: ReadonlyArray<{ headers?: object; withoutHeaders?: object }> }> } }): string | undefined {
  for (const r of vs.spec.http ?? []) {
    for (const m of r.match ?? []) {
      for (const k of [...Object.keys(m.headers ?? {}), ...Object.keys(m.withoutHeaders ?? {})]) if (routingClaim(k)) return k;
    }
  }
  return undefined;
}

/** Istio's JWTClaimRouteAnalyzer (IST0149). */
export const jwtClaimRouteWithoutRequestAuthn: Analyzer = (ctx) => {
  const index = new RequestAuthentications(
    ctx.all("RequestAuthentication").map((r) => r.resource),
    ROOT_NAMESPACE,
  );
  const gateways = new Map(ctx.all("Gateway").map((g) => [`${g.resource.metadata.namespace}/${g.resource.metadata.name}`, g.resource]));
  const workloads = ctx.all("WorkloadEntry");
  for (const vs of ctx.all("VirtualService")) {
    const key = claimKey(vs.resource);
    if (!key) continue;
    for (const g of vs.resource.spec.gateways ?? []) {
      const name = resolveGatewayName(g, vs.resource.metadata.namespace);
      const gw = gateways.get(name);
      const sel = gw?.spec.selector;
      if (!sel || Object.keys(sel).length === 0) continue;
      for (const w of workloads) {
        const labels = w.resource.spec.labels ?? {};
        if (!labelsMatch(sel, labels)) continue;
        if (index.forWorkload({ namespace: w.resource.metadata.namespace, labels }).length > 0) continue;
        ctx.report(
          "IST0149",
          vs,
          `The virtual service uses the JWT claim based routing (key: ${key}) but found no request authentication for the gateway (${name}) pod (${w.resource.metadata.name}). The request authentication must first be applied for the gateway pods to validate the JWT token and make the claims available for routing.`,
        );
      }
    }
  }
};
