// `tsmesh analyze PATH…`: validation plus cross-resource checks, reported with Istio's IST codes.
import { analyze } from "../analysis/analyze.js";
import { LEVEL_RANK, type Level } from "../analysis/messages.js";
import { meshFrom, readMeshConfigFile } from "../controlplane/mesh-config.js";
import { validatePaths } from "./validate.js";

export interface AnalyzeOptions {
  output: "text" | "json";
  /** Exit 1 when a message at or above this level is found (istioctl's --failure-threshold). */
  failureThreshold: Level;
  /** A mesh config file (root namespace, extensionProviders); without it CUSTOM providers are not checked. */
  meshConfigFile?: string;
}

export function runAnalyze(paths: string[], opts: AnalyzeOptions, out: (s: string) => void): number {
  let mesh: Parameters<typeof analyze>[1];
  if (opts.meshConfigFile !== undefined) {
    try {
      const m = meshFrom(readMeshConfigFile(opts.meshConfigFile));
      mesh = { rootNamespace: m.rootNamespace, extensionProviders: m.extensionProviders };
    } catch (e) {
      out(`Error: ${(e as Error).message}`);
      return 1;
    }
  }
  const docs = validatePaths(paths, { ignoreUnknown: true });
  const messages = analyze(docs, mesh);
  messages.sort((a, b) => LEVEL_RANK[b.level] - LEVEL_RANK[a.level] || (a.file ?? "").localeCompare(b.file ?? "") || (a.line ?? 0) - (b.line ?? 0));
  if (opts.output === "json") out(JSON.stringify(messages, null, 2));
  else if (messages.length === 0) out("✔ No validation issues found when analyzing " + paths.join(" "));
  else for (const m of messages) out(`${m.level} [${m.code}] (${m.resource} ${m.file}:${m.line}) ${m.message}`);
  return messages.some((m) => LEVEL_RANK[m.level] >= LEVEL_RANK[opts.failureThreshold]) ? 1 : 0;
}
