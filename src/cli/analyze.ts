// `tsmesh analyze PATH…`: validation plus cross-resource checks, reported with Istio's IST codes.
// Without paths it analyzes the running mesh (as istioctl analyze does the cluster): the effective
// resources from istiod's /debug/configz and the mesh config from /debug/mesh.
// The keys of RequestAuthentication rules without inline jwks are fetched once (as the control
// plane's resolver would, bounded by each rule's timeout) so unreachable ones are reported.
import type { Resource } from "../api/resource.js";
import type { DocumentResult } from "../api/validate.js";
import { parseDuration } from "../api/validation/common.js";
import { analyze } from "../analysis/analyze.js";
import { fetchedJwks, type JwksLookup } from "../analysis/authn.js";
import type { TelemetryAnalysisMesh } from "../analysis/telemetry.js";
import { LEVEL_RANK, type Level } from "../analysis/messages.js";
import { JwksResolver } from "../controlplane/jwks-resolver.js";
import { jwksUriOf } from "../model/request-authentication.js";
import { DEFAULT_JWKS_TIMEOUT_MS } from "../xds/gen/authn.js";
import { meshFrom, readMeshConfigFile } from "../controlplane/mesh-config.js";
import type { AnyResource } from "../api/resource.js";
import type { MeshConfig } from "../model/push-context.js";
import { CommandError, httpJson, monitoringUrl, targetMesh, type MeshTarget } from "./mesh-target.js";
import { validatePaths } from "./validate.js";

export interface AnalyzeOptions extends MeshTarget {
  output: "text" | "json";
  /** Exit 1 when a message at or above this level is found (istioctl's --failure-threshold). */
  failureThreshold: Level;
  /** A mesh config file (root namespace, extensionProviders); without it CUSTOM providers are not checked. */
  meshConfigFile?: string;
}

/** Fetches every (issuer, jwksUri) the documents' RequestAuthentications name, once each, in parallel. */
async function checkJwks(docs: readonly DocumentResult[]): Promise<JwksLookup | undefined> {
  const ras = docs.flatMap((d) => (d.valid && d.resource?.kind === "RequestAuthentication" ? [d.resource as Resource<"RequestAuthentication">] : []));
  const wanted = fetchedJwks(ras);
  if (wanted.length === 0) return undefined;
  const timeoutOf = (issuer: string, uri: string): number => {
    for (const ra of ras) {
      for (const r of ra.spec.jwtRules ?? []) {
        if ((r.issuer ?? "") === issuer && jwksUriOf(r) === uri && r.timeout) return parseDuration(r.timeout) ?? DEFAULT_JWKS_TIMEOUT_MS;
      }
    }
    return DEFAULT_JWKS_TIMEOUT_MS;
  };
  const resolver = new JwksResolver({ refreshRetries: 0 });
  try {
    await Promise.all(wanted.map((w) => resolver.check(w.issuer, w.jwksUri, timeoutOf(w.issuer, w.jwksUri))));
  } finally {
    resolver.close();
  }
  return (issuer, uri) => resolver.status(issuer, uri);
}

/** The running mesh's effective resources as analyzer input, and its mesh config. */
async function liveDocuments(o: MeshTarget): Promise<{ docs: DocumentResult[]; mesh: TelemetryAnalysisMesh; where: string }> {
  const record = targetMesh(o);
  const base = monitoringUrl(record);
  const [resources, meshConfig] = await Promise.all([httpJson<AnyResource[]>(`${base}/debug/configz`, "the control plane's monitoring port"), httpJson<MeshConfig>(`${base}/debug/mesh`, "the control plane's monitoring port")]);
  const docs = resources.map(
    (r, index): DocumentResult => ({ file: "", index, line: 0, kind: r.kind, apiVersion: r.apiVersion, namespace: r.metadata.namespace, name: r.metadata.name, valid: true, diagnostics: [], resource: r }),
  );
  const mesh = { rootNamespace: meshConfig.rootNamespace, extensionProviders: meshConfig.extensionProviders, defaultAccessLogging: meshConfig.telemetry?.defaultProviders?.accessLogging };
  return { docs, mesh, where: `the running mesh ${record.name}` };
}

export async function runAnalyze(paths: string[], opts: AnalyzeOptions, out: (s: string) => void): Promise<number> {
  if (paths.length === 0) {
    let live: Awaited<ReturnType<typeof liveDocuments>>;
    try {
      live = await liveDocuments(opts);
    } catch (e) {
      if (!(e instanceof CommandError)) throw e;
      out(`Error: ${e.message}`);
      return e.code;
    }
    return report(analyze(live.docs, { jwks: await checkJwks(live.docs), mesh: live.mesh }), live.where, opts, out);
  }
  let mesh: TelemetryAnalysisMesh | undefined;
  if (opts.meshConfigFile !== undefined) {
    try {
      const m = meshFrom(readMeshConfigFile(opts.meshConfigFile));
      mesh = { rootNamespace: m.rootNamespace, extensionProviders: m.extensionProviders, defaultAccessLogging: m.telemetry.defaultProviders.accessLogging };
    } catch (e) {
      out(`Error: ${(e as Error).message}`);
      return 1;
    }
  }
  const docs = validatePaths(paths, { ignoreUnknown: true });
  return report(analyze(docs, { jwks: await checkJwks(docs), mesh }), paths.join(" "), opts, out);
}

function report(messages: ReturnType<typeof analyze>, where: string, opts: AnalyzeOptions, out: (s: string) => void): number {
  messages.sort((a, b) => LEVEL_RANK[b.level] - LEVEL_RANK[a.level] || (a.file ?? "").localeCompare(b.file ?? "") || (a.line ?? 0) - (b.line ?? 0));
  if (opts.output === "json") out(JSON.stringify(messages, null, 2));
  else if (messages.length === 0) out("✔ No validation issues found when analyzing " + where);
  // Live resources have no file line (istioctl prints just the resource for a cluster's).
  else for (const m of messages) out(`${m.level} [${m.code}] (${m.resource}${m.file && m.line ? ` ${m.file}:${m.line}` : ""}) ${m.message}`);
  return messages.some((m) => LEVEL_RANK[m.level] >= LEVEL_RANK[opts.failureThreshold]) ? 1 : 0;
}
