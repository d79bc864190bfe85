// Kubernetes kinds tsmesh does not read. Istio's sample files mix them with what tsmesh reads
// (bookinfo.yaml: a Service, a ServiceAccount and a Deployment per app); each such document is
// skipped with one warning saying why, and the file's other documents still apply — rather than
// the whole file failing on an "unknown kind".
import { diagnostic } from "../core/errors.js";
import { splitApiVersion } from "../api/kinds.js";
import type { ParsedDocument } from "../api/parse.js";
import type { DocumentResult } from "../api/validate.js";

/** Core-group (apiVersion v1) kinds: other v1 kinds are unknown (a typo of Service, say). */
const CORE_KINDS = new Set(["Pod", "ServiceAccount", "Secret", "Namespace", "Endpoints", "PersistentVolumeClaim", "PersistentVolume", "ReplicationController", "LimitRange", "ResourceQuota", "Node", "Event"]);
/** Kubernetes' own API groups without a dot, and the add-ons Istio's samples use. */
const GROUPS = new Set(["apps", "batch", "policy", "autoscaling", "cert-manager.io"]);
const WORKLOAD_KINDS = new Set(["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob"]);

export const WORKLOADS_NOT_READ = 'not read: tsmesh runs workloads from WorkloadEntries (README: "A whole mesh on one machine: `tsmesh up`")';

/** Why a kind is not read, or undefined when it is not a Kubernetes kind tsmesh knows to skip. */
export function notReadReason(apiVersion: string, kind: string): string | undefined {
  const { group } = splitApiVersion(apiVersion);
  const known = group === "" ? CORE_KINDS.has(kind) : GROUPS.has(group) || (group.endsWith(".k8s.io") && group !== "gateway.networking.k8s.io");
  if (!known) return undefined;
  if (WORKLOAD_KINDS.has(kind)) return WORKLOADS_NOT_READ;
  if (kind === "ServiceAccount") return "not read: a workload's identity is its WorkloadEntry's serviceAccount (no ServiceAccount object is needed)";
  if (kind === "Secret") return 'not read: gateway credentials are files in the credentials folder (README: "Gateway credentials (`credentialName`) in local mode")';
  return "not read: tsmesh reads Istio's kinds, the Gateway API's, Services and the mesh config ConfigMap";
}

/** A skipped document's result (valid, no resource, one TSMESH_NOT_READ warning), or undefined when the document is not one. */
export function notReadDocument(doc: ParsedDocument): DocumentResult | undefined {
  const v = doc.value as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | undefined;
  if (typeof v?.apiVersion !== "string" || typeof v.kind !== "string") return undefined;
  const reason = notReadReason(v.apiVersion, v.kind);
  if (!reason) return undefined;
  const meta = v.metadata;
  return {
    file: doc.file,
    index: doc.index,
    line: doc.line,
    lineOf: doc.lineOf,
    columnOf: doc.columnOf,
    apiVersion: v.apiVersion,
    kind: v.kind,
    name: typeof meta?.name === "string" ? meta.name : undefined,
    namespace: typeof meta?.namespace === "string" && meta.namespace !== "" ? meta.namespace : "default",
    valid: true,
    diagnostics: [diagnostic("TSMESH_NOT_READ", "", reason)],
  };
}
