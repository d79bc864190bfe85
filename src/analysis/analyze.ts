// Cross-resource analysis in the spirit of `istioctl analyze`: each analyzer looks at the whole set
// of valid resources and reports problems no single resource shows on its own.
import type { AnyResource, IstioKind, Resource } from "../api/resource.js";
import { resourceName } from "../api/resource.js";
import type { DocumentResult } from "../api/validate.js";
import { describeDocument } from "../api/format.js";
import { hostMatches, resolveShortName } from "../api/hosts.js";
import { serviceEntryOfService } from "../registry/kube-service.js";
import { unreachableRoutes } from "../api/validation/virtualservice-unreachable.js";
import { jwksUnreachable, jwtClaimRouteWithoutRequestAuthn, type JwksLookup } from "./authn.js";
import { authzAnalyzers } from "./authz.js";
import { analyzeEnvoyFilters } from "./envoyfilter.js";
import { MESSAGE_TYPES, type AnalysisMessage, type MessageCode } from "./messages.js";
import { telemetryAnalyzers, type TelemetryAnalysisMesh } from "./telemetry.js";

type Located = { resource: AnyResource; doc: DocumentResult };

export class AnalysisContext {
  readonly messages: AnalysisMessage[] = [];
  private readonly byKind = new Map<IstioKind, Located[]>();

  constructor(docs: DocumentResult[]) {
    for (const doc of docs) {
      if (!doc.resource) continue;
      this.add(doc.resource, doc);
      // A Kubernetes Service is a service as a ServiceEntry is (the analyzers look services up there).
      const se = doc.resource.kind === "Service" ? serviceEntryOfService(doc.resource) : undefined;
      if (se) this.add(se, doc);
    }
  }

  private add(resource: AnyResource, doc: DocumentResult): void {
    const list = this.byKind.get(resource.kind) ?? [];
    list.push({ resource, doc });
    this.byKind.set(resource.kind, list);
  }

  all<K extends IstioKind>(kind: K): Array<{ resource: Resource<K>; doc: DocumentResult }> {
    return (this.byKind.get(kind) ?? []) as unknown as Array<{ resource: Resource<K>; doc: DocumentResult }>;
  }

  report(code: MessageCode, at: { resource: { kind: string; metadata: { name: string; namespace: string } }; doc: DocumentResult }, message: string, path?: string): void {
    const t = MESSAGE_TYPES[code];
    this.messages.push({
      code,
      name: t.name,
      level: t.level,
      resource: resourceName(at.resource),
      file: at.doc.file,
      line: (path && at.doc.lineOf?.(path)) || at.doc.line,
      path,
      message,
    });
  }
}

export type Analyzer = (ctx: AnalysisContext) => void;

function labelsMatch(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

function gatewayRef(name: string, vsNamespace: string): { namespace: string; name: string } {
  const slash = name.indexOf("/");
  if (slash >= 0) return { namespace: name.slice(0, slash), name: name.slice(slash + 1) };
  // `name.namespace` is Istio's older form for a gateway in another namespace.
  const dot = name.indexOf(".");
  if (dot >= 0) return { namespace: name.slice(dot + 1), name: name.slice(0, dot) };
  return { namespace: vsNamespace, name };
}

type Dest = { host: string; subset?: string };
type AnyRoute = { route?: Array<{ destination?: Dest }>; mirror?: Dest; mirrors?: Array<{ destination: Dest }> };

/** Every destination in a VirtualService (routes and mirrors), with its field path. */
function destinations(vs: Resource<"VirtualService">): Array<Dest & { path: string }> {
  const found: Array<Dest & { path: string }> = [];
  const sections: Array<[string, AnyRoute[] | undefined]> = [
    ["http", vs.spec.http],
    ["tcp", vs.spec.tcp],
    ["tls", vs.spec.tls],
  ];
  for (const [section, routes] of sections) {
    (routes ?? []).forEach((r, i) => {
      (r.route ?? []).forEach((d, j) => {
        if (d.destination) found.push({ ...d.destination, path: `spec.${section}[${i}].route[${j}].destination` });
      });
      if (r.mirror) found.push({ ...r.mirror, path: `spec.${section}[${i}].mirror` });
      (r.mirrors ?? []).forEach((m, j) => found.push({ ...m.destination, path: `spec.${section}[${i}].mirrors[${j}].destination` }));
    });
  }
  return found;
}

const referencedResourceNotFound: Analyzer = (ctx) => {
  const gateways = new Set(ctx.all("Gateway").map((g) => `${g.resource.metadata.namespace}/${g.resource.metadata.name}`));
  const drs = ctx.all("DestinationRule");
  for (const vs of ctx.all("VirtualService")) {
    const ns = vs.resource.metadata.namespace;
    (vs.resource.spec.gateways ?? []).forEach((g, i) => {
      if (g === "mesh") return;
      const ref = gatewayRef(g, ns);
      if (!gateways.has(`${ref.namespace}/${ref.name}`))
        ctx.report("IST0101", vs, `Referenced gateway not found: ${JSON.stringify(g)}`, `spec.gateways[${i}]`);
    });
    for (const d of destinations(vs.resource)) {
      if (!d.subset) continue;
      const host = resolveShortName(d.host, ns);
      const defined = drs.some(
        (dr) => hostMatches(resolveShortName(dr.resource.spec.host, dr.resource.metadata.namespace), host) && (dr.resource.spec.subsets ?? []).some((s) => s.name === d.subset),
      );
      if (!defined) ctx.report("IST0101", vs, `Referenced host+subset in destinationrule not found: ${JSON.stringify(`${host}+${d.subset}`)}`, `${d.path}.subset`);
    }
  }
  // Without Kubernetes, a gateway's selector must pick a WorkloadEntry (checked only when the
  // analyzed set describes workloads at all).
  const workloads = ctx.all("WorkloadEntry");
  if (workloads.length === 0) return;
  for (const gw of ctx.all("Gateway")) {
    const sel = gw.resource.spec.selector;
    if (!sel || Object.keys(sel).length === 0) continue;
    if (!workloads.some((w) => labelsMatch(sel, w.resource.spec.labels))) {
      const shown = Object.entries(sel).map(([k, v]) => `${k}=${v}`).join(",");
      ctx.report("IST0101", gw, `Referenced selector not found: ${JSON.stringify(shown)} (no WorkloadEntry has these labels)`, "spec.selector");
    }
  }
};

const gatewayPortNotDefinedOnService: Analyzer = (ctx) => {
  const workloads = ctx.all("WorkloadEntry");
  if (workloads.length === 0) return;
  for (const gw of ctx.all("Gateway")) {
    const sel = gw.resource.spec.selector;
    if (!sel || Object.keys(sel).length === 0) continue;
    const picked = workloads.filter((w) => labelsMatch(sel, w.resource.spec.labels));
    if (picked.length === 0) continue;
    const ports = new Set<number>();
    for (const se of ctx.all("ServiceEntry")) {
      const ws = se.resource.spec.workloadSelector?.labels;
      if (!ws || !picked.some((w) => labelsMatch(ws, w.resource.spec.labels))) continue;
      for (const p of se.resource.spec.ports ?? []) {
        ports.add(p.number);
        if (p.targetPort) ports.add(p.targetPort);
      }
    }
    for (const w of picked) for (const p of Object.values(w.resource.spec.ports ?? {})) ports.add(p);
    (gw.resource.spec.servers ?? []).forEach((s, i) => {
      if (!ports.has(s.port.number)) {
        const shown = Object.entries(sel).map(([k, v]) => `${k}=${v}`).join(",");
        ctx.report(
          "IST0104",
          gw,
          `The gateway refers to a port that is not exposed on the workload (pod selector ${shown}; port ${s.port.number}): add it to the ports of the ServiceEntry selecting that workload`,
          `spec.servers[${i}].port.number`,
        );
      }
    });
  }
};

const conflictingMeshGatewayHosts: Analyzer = (ctx) => {
  const byHost = new Map<string, Array<{ vs: { resource: Resource<"VirtualService">; doc: DocumentResult }; index: number }>>();
  for (const vs of ctx.all("VirtualService")) {
    const gws = vs.resource.spec.gateways;
    if (gws && gws.length > 0 && !gws.includes("mesh")) continue;
    const ns = vs.resource.metadata.namespace;
    (vs.resource.spec.hosts ?? []).forEach((h, index) => {
      const fqdn = resolveShortName(h, ns);
      const list = byHost.get(fqdn) ?? [];
      list.push({ vs, index });
      byHost.set(fqdn, list);
    });
  }
  for (const [host, list] of byHost) {
    if (list.length < 2) continue;
    const names = list.map((x) => `${x.vs.resource.metadata.namespace}/${x.vs.resource.metadata.name}`).join(",");
    for (const x of list)
      ctx.report(
        "IST0109",
        x.vs,
        `The VirtualServices ${names} associated with mesh gateway define the same host ${host} which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.`,
        `spec.hosts[${x.index}]`,
      );
  }
};

type ClientTls = { mode?: string; caCertificates?: string; credentialName?: string; insecureSkipVerify?: boolean };

function lacksServerVerification(tls: ClientTls | undefined): boolean {
  if (!tls || (tls.mode !== "SIMPLE" && tls.mode !== "MUTUAL")) return false;
  return !tls.caCertificates && !tls.credentialName && tls.insecureSkipVerify !== true;
}

const serverCertificateVerification: Analyzer = (ctx) => {
  for (const dr of ctx.all("DestinationRule")) {
    const { host, trafficPolicy, subsets } = dr.resource.spec;
    const ns = dr.resource.metadata.namespace;
    const policies: Array<[typeof trafficPolicy, string]> = [[trafficPolicy, "spec.trafficPolicy"]];
    (subsets ?? []).forEach((s, i) => policies.push([s.trafficPolicy, `spec.subsets[${i}].trafficPolicy`]));
    for (const [tp, path] of policies) {
      if (!tp) continue;
      const tls = tp.tls as ClientTls | undefined;
      if (lacksServerVerification(tls))
        ctx.report(
          "IST0128",
          dr,
          `DestinationRule ${ns}/${dr.resource.metadata.name} in namespace ${ns} has TLS mode set to ${tls!.mode} but no caCertificates are set to validate server identity for host: ${host}`,
          `${path}.tls`,
        );
      (tp.portLevelSettings ?? []).forEach((pls, j) => {
        const ptls = pls.tls as ClientTls | undefined;
        if (lacksServerVerification(ptls))
          ctx.report(
            "IST0129",
            dr,
            `DestinationRule ${ns}/${dr.resource.metadata.name} in namespace ${ns} has TLS mode set to ${ptls!.mode} but no caCertificates are set to validate server identity for host: ${host} at port number: ${pls.port?.number}`,
            `${path}.portLevelSettings[${j}].tls`,
          );
      });
    }
  }
};

// The VirtualService validator finds these too (as warnings); the analyzer reports them with Istio's codes.
const unreachableRules: Analyzer = (ctx) => {
  for (const vs of ctx.all("VirtualService"))
    for (const f of unreachableRoutes(vs.resource.spec)) ctx.report(f.scope === "rule" ? "IST0130" : "IST0131", vs, f.message, f.path);
};

const hostNotFoundInGateway: Analyzer = (ctx) => {
  const gateways = new Map(ctx.all("Gateway").map((g) => [`${g.resource.metadata.namespace}/${g.resource.metadata.name}`, g]));
  for (const vs of ctx.all("VirtualService")) {
    const ns = vs.resource.metadata.namespace;
    (vs.resource.spec.gateways ?? []).forEach((gname, gi) => {
      if (gname === "mesh") return;
      const ref = gatewayRef(gname, ns);
      const gw = gateways.get(`${ref.namespace}/${ref.name}`);
      if (!gw) return; // IST0101 already says so
      const serverHosts = (gw.resource.spec.servers ?? []).flatMap((s) => s.hosts ?? []);
      const missing = (vs.resource.spec.hosts ?? []).filter((h) => {
        const host = resolveShortName(h, ns);
        return !serverHosts.some((sh) => {
          const slash = sh.indexOf("/");
          const hns = slash < 0 ? "*" : sh.slice(0, slash);
          const hhost = slash < 0 ? sh : sh.slice(slash + 1);
          const nsOk = hns === "*" || (hns === "." ? ns === gw.resource.metadata.namespace : hns === ns);
          return nsOk && (hostMatches(hhost, host) || hostMatches(hhost, h) || hostMatches(host, hhost));
        });
      });
      if (missing.length > 0)
        ctx.report(
          "IST0132",
          vs,
          `one or more host [${missing.join(", ")}] defined in VirtualService ${ns}/${vs.resource.metadata.name} not found in Gateway ${ref.namespace}/${ref.name}`,
          `spec.gateways[${gi}]`,
        );
    });
  }
};

export const ANALYZERS: Analyzer[] = [
  referencedResourceNotFound,
  gatewayPortNotDefinedOnService,
  conflictingMeshGatewayHosts,
  serverCertificateVerification,
  unreachableRules,
  hostNotFoundInGateway,
  jwtClaimRouteWithoutRequestAuthn,
  analyzeEnvoyFilters,
];

export interface AnalyzeOptions {
  /** The last fetch result of each RequestAuthentication's keys (TSM0001 when one failed); unchecked without it. */
  jwks?: JwksLookup;
  /** The mesh config the authorization and telemetry checks read (root namespace, extension providers); Istio's defaults without it. */
  mesh?: TelemetryAnalysisMesh;
}

/**
 * Runs schema validation results through the analyzers; errors of invalid documents become IST0106,
 * and what a resource uses that tsmesh does not enforce yet becomes IST0133 (Istio's code for a
 * validation warning), so `analyze` is never silent about it either.
 */
export function analyze(docs: DocumentResult[], opts: AnalyzeOptions = {}): AnalysisMessage[] {
  const ctx = new AnalysisContext(docs);
  for (const doc of docs) {
    if (!doc.kind) continue;
    for (const d of doc.diagnostics) {
      const schemaError = !doc.valid && d.severity === "error" && d.code !== "TSMESH_UNKNOWN_KIND";
      if (!schemaError && d.code !== "TSMESH_NOT_ENFORCED") continue;
      const code = schemaError ? "IST0106" : "IST0133";
      ctx.messages.push({
        code,
        name: MESSAGE_TYPES[code].name,
        level: MESSAGE_TYPES[code].level,
        resource: describeDocument(doc),
        file: doc.file,
        line: (d.path && doc.lineOf?.(d.path)) || doc.line,
        path: d.path,
        message: `Schema validation ${schemaError ? "error" : "warning"}: ${d.path ? `${d.path}: ` : ""}${d.message} [${d.code}]`,
      });
    }
  }
  for (const a of [...ANALYZERS, jwksUnreachable(opts.jwks), ...authzAnalyzers(opts.mesh ?? { rootNamespace: "istio-system" }), ...telemetryAnalyzers(opts.mesh ?? { rootNamespace: "istio-system" })]) a(ctx);
  return ctx.messages;
}
