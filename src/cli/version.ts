// `tsmesh version`: istioctl version's three lines — the client, the control plane of the running
// mesh (istiod's /version on the monitoring port) and the data plane (each proxy's admin
// /server_info, grouped by version with a proxy count). Without a running mesh only the client's.
import { releaseOfBuildVersion, tsmeshVersion } from "../core/tsmesh-version.js";
import { adminUrl, findMesh } from "../local/registry.js";
import { httpJson, httpText, runCommand, type MeshTarget } from "./mesh-target.js";
import { machineOutput } from "./output.js";

export interface VersionOptions extends MeshTarget {
  output: "short" | "json" | "yaml";
}

export interface MeshVersions {
  client: string;
  controlPlane?: string;
  /** Version → how many proxies run it. */
  dataPlane?: Record<string, number>;
  /** Proxies whose admin did not answer. */
  unreachable?: string[];
}

/** istiod's VERSION-REVISION-STATUS → VERSION. */
const versionOf = (line: string) => line.trim().split("-")[0];

/** The lines istioctl prints. */
export function versionLines(v: MeshVersions): string[] {
  const lines = [`client version: ${v.client}`];
  if (v.controlPlane !== undefined) lines.push(`control plane version: ${v.controlPlane}`);
  if (v.dataPlane !== undefined) {
    const parts = Object.entries(v.dataPlane).map(([ver, n]) => `${ver} (${n} ${n === 1 ? "proxy" : "proxies"})`);
    lines.push(`data plane version: ${parts.length ? parts.join(", ") : "none (0 proxies)"}`);
  }
  if (v.unreachable?.length) lines.push(`proxies that did not answer: ${v.unreachable.join(", ")}`);
  return lines;
}

export function runVersion(o: VersionOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  return runCommand("version", err, async () => {
    const v: MeshVersions = { client: tsmeshVersion() };
    const mesh = findMesh({ name: o.name, stateDir: o.stateDir });
    if (mesh instanceof Error) {
      // Asked for a particular mesh: say it is not there; otherwise the client alone, as istioctl --remote=false.
      if (o.name !== undefined || o.stateDir !== undefined) err(`tsmesh version: ${mesh.message}`);
    } else {
      if (mesh.monitoring) v.controlPlane = versionOf(await httpText(`${mesh.monitoring}/version`, "the control plane's monitoring port"));
      v.dataPlane = {};
      v.unreachable = [];
      const infos = await Promise.all(mesh.workloads.map((w) => httpJson<{ version?: string }>(`${adminUrl(w)}/server_info`, w.name, { timeoutMs: 3000 }).catch(() => undefined)));
      infos.forEach((info, i) => {
        if (!info?.version) return v.unreachable!.push(`${mesh.workloads[i].namespace}/${mesh.workloads[i].name}`);
        const ver = releaseOfBuildVersion(info.version) ?? info.version;
        v.dataPlane![ver] = (v.dataPlane![ver] ?? 0) + 1;
      });
    }
    out(o.output === "short" ? versionLines(v).join("\n") : machineOutput(v, o.output));
    return 0;
  });
}
