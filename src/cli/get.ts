// `tsmesh get KIND [NAME...] [-n NS | -A] [-o yaml|json|wide|name]`: kubectl get against the running
// mesh's API, in kubectl's shapes: a `NAME   AGE` table (NAMESPACE first with -A; -o wide adds
// SOURCE, `applied` or FILE:LINE, and the copies an applied one SHADOWS), the objects as YAML or JSON
// (a v1 List for more than one), or `kind.group/name` lines.
import { stringify } from "yaml";
import { kubectlRef, resolveKindArg } from "../api/kind-names.js";
import type { ResourceView } from "../controlplane/api-server.js";
import { findMeshSocket, isFailure, MeshApiClient, type MeshTarget } from "./api-client.js";
import { formatTable, humanDuration } from "./output.js";

export type GetOutput = "table" | "wide" | "yaml" | "json" | "name";

export interface GetCliOptions {
  kind: string;
  names: string[];
  /** -n (default "default"); ignored with allNamespaces. */
  namespace?: string;
  allNamespaces: boolean;
  output: GetOutput;
  /** --show-managed-fields: keep metadata.managedFields in -o yaml|json (kubectl hides them). */
  showManagedFields?: boolean;
  target: MeshTarget;
  /** The time AGE counts to (tests). */
  now?: Date;
}

function age(v: ResourceView, now: Date): string {
  const t = v.object.metadata.creationTimestamp;
  return t ? humanDuration(now.getTime() - Date.parse(t)) : "<unknown>";
}

export async function runGet(o: GetCliOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const kind = resolveKindArg(o.kind);
  const client = new MeshApiClient(findMeshSocket(o.target));
  const namespace = o.allNamespaces ? undefined : (o.namespace ?? "default");
  const views: ResourceView[] = [];
  let failed = false;
  if (o.names.length === 0) {
    const q = new URLSearchParams({ kind: kind, ...(namespace ? { namespace } : {}), ...(o.showManagedFields ? { showManagedFields: "true" } : {}) });
    const r = await client.get<{ items: ResourceView[] }>(`resources?${q}`);
    if (isFailure(r.body)) {
      err(`Error from server (${r.body.reason}): ${r.body.message}`);
      return 1;
    }
    views.push(...r.body.items);
  } else {
    for (const name of o.names) {
      const r = await client.get<ResourceView>(`resources/${encodeURIComponent(kind)}/${encodeURIComponent(namespace ?? "default")}/${encodeURIComponent(name)}${o.showManagedFields ? "?showManagedFields=true" : ""}`);
      if (isFailure(r.body)) {
        err(`Error from server (${r.body.reason}): ${r.body.message}`);
        failed = true;
      } else views.push(r.body);
    }
  }
  if (views.length === 0) {
    if (o.names.length === 0 && o.output !== "json" && o.output !== "yaml") err(namespace ? `No resources found in ${namespace} namespace.` : "No resources found");
    else if (o.names.length === 0) out(render([], o.output));
    return failed ? 1 : 0;
  }
  const now = o.now ?? new Date();
  switch (o.output) {
    case "yaml":
    case "json":
      out(render(views, o.output, o.names.length === 1));
      break;
    case "name":
      for (const v of views) out(kubectlRef({ kind: kind, metadata: v.object.metadata }));
      break;
    default: {
      const wide = o.output === "wide";
      const head = [...(o.allNamespaces ? ["NAMESPACE"] : []), "NAME", "AGE", ...(wide ? ["SOURCE", "SHADOWS"] : [])];
      const rows = views.map((v) => [
        ...(o.allNamespaces ? [v.object.metadata.namespace] : []),
        v.object.metadata.name,
        age(v, now),
        ...(wide ? [v.source, v.shadowed.length > 0 ? v.shadowed.join(",") : "<none>"] : []),
      ]);
      // kubectl's tabwriter: three spaces after the widest cell.
      for (const line of formatTable(head, rows, { gap: 3 }).split("\n")) out(line);
    }
  }
  return failed ? 1 : 0;
}

/** One object as itself; several (or a listing) as kubectl's v1 List. */
function render(views: readonly ResourceView[], format: "yaml" | "json" | GetOutput, single = false): string {
  const doc = single && views.length === 1 ? views[0].object : { apiVersion: "v1", items: views.map((v) => v.object), kind: "List", metadata: { resourceVersion: "" } };
  // kubectl prints list items at their key's indentation.
  return format === "json" ? JSON.stringify(doc, null, 4) : stringify(doc, { indentSeq: false }).trimEnd();
}
