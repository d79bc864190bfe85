// How the operating commands reach a running mesh: the registry record (--name / --state-dir, via
// findMesh), one of its workloads by name, and bounded HTTP reads of the control plane's monitoring
// port and a proxy's admin port.
import { adminUrl, findMesh, meshWorkload, type MeshRecord, type MeshWorkloadRecord } from "../local/registry.js";

export interface MeshTarget {
  name?: string;
  stateDir?: string;
}

/** A failure a command reports as `tsmesh CMD: message` and exits with `code`. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message);
  }
}

export function targetMesh(t: MeshTarget): MeshRecord {
  const m = findMesh({ name: t.name, stateDir: t.stateDir });
  if (m instanceof Error) throw new CommandError(m.message, 2);
  return m;
}

export function targetWorkload(mesh: MeshRecord, ref: string): MeshWorkloadRecord {
  const w = meshWorkload(mesh, ref);
  if (w) return w;
  const names = mesh.workloads.map((x) => `${x.namespace}/${x.name}`);
  throw new CommandError(`no workload ${JSON.stringify(ref)} in mesh ${mesh.name}${names.length ? ` (workloads: ${names.join(", ")})` : ""}`, 2);
}

/** The most a CLI reads from one answer (a big mesh's config dump is a few MB). */
const MAX_BODY = 64 * 1024 * 1024;

/** GET (or POST) url → body text; throws CommandError naming what did not answer. */
export async function httpText(url: string, what: string, init: { method?: string; timeoutMs?: number } = {}): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { method: init.method ?? "GET", signal: AbortSignal.timeout(init.timeoutMs ?? 10_000) });
  } catch (e) {
    throw new CommandError(`${what} (${url}) did not answer: ${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}`);
  }
  const body = await res.text();
  if (body.length > MAX_BODY) throw new CommandError(`${what} (${url}) answered more than ${MAX_BODY} bytes`);
  if (res.status !== 200) throw new CommandError(`${what} (${url}) answered HTTP ${res.status}: ${body.trim().slice(0, 300)}`);
  return body;
}

export async function httpJson<T>(url: string, what: string, init: { method?: string; timeoutMs?: number } = {}): Promise<T> {
  const text = await httpText(url, what, init);
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new CommandError(`${what} (${url}) answered something that is not JSON: ${(e as Error).message}`);
  }
}

/** The control plane's monitoring URL, or an error when the mesh runs without one. */
export function monitoringUrl(mesh: MeshRecord): string {
  if (!mesh.monitoring) throw new CommandError(`mesh ${mesh.name} runs without a monitoring port (--monitoring-address "")`);
  return mesh.monitoring;
}

/** A proxy's admin /config_dump. */
export function proxyConfigDump(w: MeshWorkloadRecord): Promise<unknown> {
  return httpJson(`${adminUrl(w)}/config_dump`, `${w.namespace}/${w.name}'s proxy admin`);
}

/** What istiod would send a proxy: the monitoring port's /debug/config_dump?proxyID=. */
export function istiodConfigDump(mesh: MeshRecord, proxyId: string): Promise<unknown> {
  return httpJson(`${monitoringUrl(mesh)}/debug/config_dump?proxyID=${encodeURIComponent(proxyId)}`, "the control plane's monitoring port");
}

/** Runs a command body, turning a CommandError into its message on stderr and exit code. */
export async function runCommand(cmd: string, err: (s: string) => void, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof CommandError) {
      err(`tsmesh ${cmd}: ${e.message}`);
      return e.code;
    }
    throw e;
  }
}
