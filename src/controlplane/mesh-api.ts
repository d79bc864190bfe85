// Wires the applied layer and the mesh API into the control plane: the layer restored from the state
// folder (problems logged), resources' sources named for users (`applied`, or FILE:LINE in a config
// folder), status from the default providers.
import { join } from "node:path";
import type { TelemetryAnalysisMesh } from "../analysis/telemetry.js";
import type { AnyResource } from "../api/resource.js";
import { AppliedLayer, APPLIED_SOURCE } from "../config/applied.js";
import type { DirectorySource } from "../config/directory.js";
import { findOrigin } from "../config/origin.js";
import type { ConfigStore } from "../config/store.js";
import type { MeshConfig } from "../model/push-context.js";
import { MeshApiServer } from "./api-server.js";
import { defaultStatusRegistry, type StatusRegistry } from "./status.js";

export interface MeshApi {
  applied: AppliedLayer;
  status: StatusRegistry;
  server: MeshApiServer;
}

/** The socket of the mesh API in a state folder. */
export function apiSocketPath(stateDir: string): string {
  return join(stateDir, "api.sock");
}

/** What analyze reads from the mesh config. */
export function analysisMesh(m: MeshConfig): TelemetryAnalysisMesh {
  return { rootNamespace: m.rootNamespace, extensionProviders: m.extensionProviders, defaultAccessLogging: m.telemetry.defaultProviders.accessLogging };
}

/** Restores the applied layer into the store now; the returned server is to be listened on once the control plane serves. */
export function startMeshApi(discovery: { store: ConfigStore; mesh: MeshConfig }, stateDir: string, folders: readonly DirectorySource[], log: (line: string) => void): MeshApi {
  const applied = new AppliedLayer(discovery.store, { stateDir });
  for (const p of applied.load()) log(`discovery: applied resource not restored: ${p}`);
  const describeSource = (source: string, r: AnyResource): string => {
    if (source === APPLIED_SOURCE) return "applied";
    const folder = folders.find((f) => f.id === source);
    if (!folder) return source;
    const at = findOrigin(folder.path, r.kind, r.metadata.namespace, r.metadata.name);
    return at ? `${at.file}:${at.line}` : folder.path;
  };
  const status = defaultStatusRegistry();
  const server = new MeshApiServer({
    socketPath: apiSocketPath(stateDir),
    store: discovery.store,
    applied,
    status,
    mesh: () => analysisMesh(discovery.mesh),
    describeSource,
    log,
  });
  return { applied, status, server };
}
