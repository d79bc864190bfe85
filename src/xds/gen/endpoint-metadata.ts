// Per-endpoint metadata of EDS and DNS load assignments (Istio's endpoint_builder.go
// buildEnvoyLbEndpoint + util.AppendLbEndpointMetadata): `envoy.transport_socket_match:
// {tlsMode: istio}` on endpoints the caller should reach with Istio mTLS — the clusters' auto-mTLS
// transport socket matches read it — and `istio: {workload: "NAME;NAMESPACE;CANONICAL;REVISION;CLUSTER"}`
// for telemetry about a destination that never answered.
import { struct } from "../../envoy/protos.js";
import type { Metadata } from "../../envoy/types.js";
import { mtlsModeForPort, type MergedPeerAuthentication } from "../../model/authentication.js";
import { labelsKey, type MergedDestinationRule, type PushContext } from "../../model/push-context.js";
import type { WorkloadEndpoint } from "../../registry/model.js";
import { DISABLED_TLS_MODE, ISTIO_MUTUAL_TLS_MODE, TRANSPORT_SOCKET_MATCH_KEY } from "./cluster-tls.js";
import type { ClientTLSSettings } from "./traffic-policy.js";

import { DEFAULT_CLUSTER_ID } from "../../core/istio-version.js";

type TlsMode = NonNullable<ClientTLSSettings["mode"]>;

/** The tls mode a traffic policy sets for a port: the port-level setting with tls, else the policy's (DISABLE when tls names no mode). */
function policyTlsMode(tp: { tls?: ClientTLSSettings; portLevelSettings?: { port?: { number?: number }; tls?: ClientTLSSettings }[] } | undefined, port: number): TlsMode | undefined {
  if (!tp) return undefined;
  let mode: TlsMode | undefined = tp.tls ? (tp.tls.mode ?? "DISABLE") : undefined;
  const pl = tp.portLevelSettings?.find((p) => p.port?.number === port && p.tls);
  if (pl?.tls) mode = pl.tls.mode ?? "DISABLE";
  return mode;
}

/**
 * Istio's tlsModeForDestinationRule (EDS side): the subset's tls mode for the port, else the
 * rule's; undefined when the rule says nothing about TLS (auto mTLS decides).
 */
export function destinationRuleTlsMode(rule: MergedDestinationRule | undefined, subset: string | undefined, port: number): TlsMode | undefined {
  if (!rule) return undefined;
  if (subset) {
    const s = rule.subsets.find((x) => x.name === subset);
    if (!s) return undefined;
    return policyTlsMode(s.trafficPolicy, port) ?? policyTlsMode(rule.trafficPolicy, port);
  }
  return policyTlsMode(rule.trafficPolicy, port);
}

/** The PeerAuthentication in force for a workload (memoized per push by namespace and labels). */
function workloadPolicy(push: PushContext, ep: WorkloadEndpoint): MergedPeerAuthentication {
  return push.memo(`pa/${ep.namespace}/${labelsKey(ep.labels)}`, () => push.authnPolicies.effective(ep.namespace, ep.labels));
}

/**
 * Istio's mtlsChecker.checkMtlsEnabled: a DestinationRule tls mode decides (ISTIO_MUTUAL or not);
 * else the endpoint must have a sidecar and its PeerAuthentication for the port must not be DISABLE.
 */
export function endpointMtlsEnabled(push: PushContext, ep: WorkloadEndpoint, endpointPort: number, drMode: TlsMode | undefined): boolean {
  if (drMode !== undefined) return drMode === "ISTIO_MUTUAL";
  if (ep.tlsMode !== ISTIO_MUTUAL_TLS_MODE) return false;
  return mtlsModeForPort(workloadPolicy(push, ep), endpointPort) !== "DISABLE";
}

const canonicalNameLabels = ["service.istio.io/canonical-name", "app.kubernetes.io/name", "app"];
const canonicalRevisionLabels = ["service.istio.io/canonical-revision", "app.kubernetes.io/version", "version"];

function firstLabel(labels: Readonly<Record<string, string>>, keys: readonly string[]): string | undefined {
  for (const k of keys) if (labels[k] !== undefined) return labels[k];
  return undefined;
}

/** Istio's compressed workload telemetry label: `NAME;NAMESPACE;CANONICAL_NAME;CANONICAL_REVISION;CLUSTER`. */
export function workloadTelemetryValue(ep: WorkloadEndpoint): string {
  const name = firstLabel(ep.labels, canonicalNameLabels) ?? ep.workloadName;
  const revision = firstLabel(ep.labels, canonicalRevisionLabels) ?? "latest";
  // The default revision is not sent, as Istio leaves it out.
  return [ep.workloadName, ep.namespace, name, revision === "latest" ? "" : revision, DEFAULT_CLUSTER_ID].join(";");
}

/** An endpoint's metadata as Istio writes it. */
export function endpointMetadata(push: PushContext, ep: WorkloadEndpoint, endpointPort: number, drMode: TlsMode | undefined): Metadata {
  const mtls = endpointMtlsEnabled(push, ep, endpointPort, drMode);
  const filterMetadata: NonNullable<Metadata["filterMetadata"]> = {};
  // The endpoint's own mode is written (a custom label value included) unless it is empty or "disabled".
  if (mtls && ep.tlsMode !== "" && ep.tlsMode !== DISABLED_TLS_MODE) filterMetadata[TRANSPORT_SOCKET_MATCH_KEY] = struct({ tlsMode: ep.tlsMode });
  filterMetadata.istio = struct({ workload: workloadTelemetryValue(ep) });
  return { filterMetadata };
}
