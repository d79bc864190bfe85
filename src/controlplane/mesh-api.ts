// Wires the applied layer and the mesh API into the control plane: the layer restored from the state
// folder (problems logged), resources' sources named for users (`applied`, or FILE:LINE in a config
// folder), status from the default providers, and an applied mesh config ConfigMap checked as the
// control plane will read it (a --mesh-config file makes it ignored, as istiod ignores it then).
import { join } from "node:path";
import type { TelemetryAnalysisMesh } from "../analysis/telemetry.js";
import type { AnyResource } from "../api/resource.js";
import { AppliedLayer, APPLIED_SOURCE } from "../config/applied.js";
import type { DirectorySource } from "../config/directory.js";
import { findOrigin } from "../config/origin.js";
import { MESH_CONFIGMAP_KEY, type ConfigMap } from "../config/configmap.js";
import { displayPath } from "../config/files.js";
import type { ConfigStore } from "../config/store.js";
import type { MeshConfig } from "../model/push-context.js";
import { bindFailureStatus } from "../model/gateway-api/status.js";
import { MeshApiServer } from "./api-server.js";
import { type AckEvents, ListenerFailures } from "./listener-failures.js";
import { MeshConfigError, parseMeshConfig } from "./mesh-config.js";
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

/**
 * What apply says of a mesh config ConfigMap: its data.mesh's errors (it would not take effect), or
 * that a --mesh-config file overrides it.
 */
export function meshConfigMapCheck(meshConfigFile: string | undefined): (cm: ConfigMap) => { errors: string[]; warnings: string[] } {
  return (cm) => {
    if (meshConfigFile !== undefined) return { errors: [], warnings: [`stored, but not in force: the mesh config comes from --mesh-config ${displayPath(meshConfigFile)} (istiod ignores the ConfigMap when its mesh file exists)`] };
    const text = cm.data[MESH_CONFIGMAP_KEY];
    if (text === undefined) return { errors: [], warnings: [`has no data.${MESH_CONFIGMAP_KEY}: the mesh config's defaults apply`] };
    try {
      parseMeshConfig(text, `data.${MESH_CONFIGMAP_KEY}`);
    } catch (e) {
      if (e instanceof MeshConfigError) return { errors: e.problems.map((p) => `data.${MESH_CONFIGMAP_KEY}: ${p}`), warnings: [] };
      throw e;
    }
    return { errors: [], warnings: [] };
  };
}

/** Restores the applied layer into the store now; the returned server is to be listened on once the control plane serves. */
export function startMeshApi(
  discovery: { store: ConfigStore; mesh: MeshConfig; server: AckEvents },
  stateDir: string,
  folders: readonly DirectorySource[],
  log: (line: string) => void,
  meshConfigFile?: string,
): MeshApi {
  const applied = new AppliedLayer(discovery.store, { stateDir, checkMeshConfigMap: meshConfigMapCheck(meshConfigFile) });
  for (const p of applied.load()) log(`discovery: applied resource not restored: ${p}`);
  const describeSource = (source: string, r: AnyResource): string => {
    if (source === APPLIED_SOURCE) return "applied";
    const folder = folders.find((f) => f.id === source);
    if (!folder) return source;
    const at = findOrigin(folder.path, r.kind, r.metadata.namespace, r.metadata.name);
    return at ? `${at.file}:${at.line}` : folder.path;
  };
  const status = defaultStatusRegistry();
  // After the Gateway API's provider: a Gateway whose router could not bind a listener is not Programmed.
  const failures = new ListenerFailures(discovery.server);
  status.register((r, ctx) => bindFailureStatus(r, ctx, (address) => failures.at(address)), ["KubernetesGateway"]);
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
