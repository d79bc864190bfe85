// `tsmesh delete -f FILE|DIR|-` and `tsmesh delete KIND NAME... [-n NS]`: kubectl delete against the
// running mesh's API. Only applied resources are deleted; one that a config folder defines is
// reported with its file (remove it there). Output and errors read as kubectl's
// (`virtualservice.networking.istio.io "reviews" deleted`, `Error from server (NotFound): …`).
import { resolveKindArg } from "../api/kind-names.js";
import type { DeleteResponse } from "../controlplane/api-server.js";
import { findMeshSocket, isFailure, MeshApiClient, type MeshTarget } from "./api-client.js";
import { readManifests } from "./apply.js";

export interface DeleteCliOptions {
  /** -f values; or else `kind` and `names`. */
  files: string[];
  /** -R: folders' subfolders too. */
  recursive: boolean;
  kind?: string;
  names: string[];
  namespace?: string;
  dryRun: boolean;
  target: MeshTarget;
}

/** `virtualservice.networking.istio.io "reviews"` from kubectl's `virtualservice.networking.istio.io/reviews`. */
function deletedRef(ref: string): string {
  const slash = ref.indexOf("/");
  return `${ref.slice(0, slash)} ${JSON.stringify(ref.slice(slash + 1))}`;
}

export async function runDelete(o: DeleteCliOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const requests: Array<{ file?: string; body: Record<string, unknown> }> = [];
  if (o.files.length > 0) {
    for (const m of readManifests(o.files, o.recursive)) requests.push({ file: m.file, body: { yaml: m.text, file: m.file, namespace: o.namespace, dryRun: o.dryRun } });
  } else {
    const kind = resolveKindArg(o.kind ?? "");
    requests.push({ body: { refs: o.names.map((name) => ({ kind, namespace: o.namespace ?? "default", name })), dryRun: o.dryRun } });
  }
  const client = new MeshApiClient(findMeshSocket(o.target));
  let failed = false;
  for (const req of requests) {
    const r = await client.post<DeleteResponse>("delete", req.body);
    if (isFailure(r.body)) {
      err(`Error from server (${r.body.reason}): ${r.body.message}`);
      failed = true;
      continue;
    }
    for (const e of r.body.errors) {
      err(`error: ${e}`);
      failed = true;
    }
    for (const res of r.body.results) {
      if (res.outcome === "deleted") out(`${deletedRef(res.ref)} deleted${o.dryRun ? " (server dry run)" : ""}`);
      else if (res.error) {
        err(`Error from server (${res.error.reason}): ${req.file ? `error when deleting ${JSON.stringify(req.file)}: ` : ""}${res.error.message}`);
        failed = true;
      }
    }
  }
  return failed ? 1 : 0;
}
