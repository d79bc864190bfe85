// Where TLS contexts get their secrets, as Istio writes it (pilot/pkg/security/model and
// pkg/model/authentication.go): the workload certificate (`default`) and the mesh root (`ROOTCA`)
// from the proxy's agent through the `sds-grpc` cluster (ConstructSdsSecretConfig), and
// credentialName secrets (`kubernetes://NAME`, `kubernetes://NAME-cacert`) over ADS from the
// control plane (ConstructSdsSecretConfigForCredential). Also the SPIFFE identity of a service account.
import type { SdsSecretConfig } from "../../envoy/types.js";
import { zeroDuration } from "./filters.js";

/** Istio's SDS names: the workload certificate and the mesh root. */
export const SDS_DEFAULT_RESOURCE = "default";
export const SDS_ROOT_RESOURCE = "ROOTCA";
/** The cluster the agent's SDS server sits behind (served in-process by the tsmesh proxy). */
export const SDS_CLUSTER = "sds-grpc";
/** Istio's suffix for the CA half of a credentialName secret. */
export const SDS_CA_SUFFIX = "-cacert";
/** credentialName schemes (Istio's pilot/pkg/model/credentials). */
const KUBERNETES_SECRET = "kubernetes://";
const BUILTIN = "builtin://";

/** Istio's ConstructSdsSecretConfig: `default` or `ROOTCA` from the agent, waiting for it (0s initial fetch timeout). */
export function workloadSdsSecretConfig(name: typeof SDS_DEFAULT_RESOURCE | typeof SDS_ROOT_RESOURCE): SdsSecretConfig {
  return {
    name,
    sdsConfig: {
      apiConfigSource: {
        apiType: "GRPC",
        setNodeOnFirstMessageOnly: true,
        transportApiVersion: "V3",
        grpcServices: [{ envoyGrpc: { clusterName: SDS_CLUSTER } }],
      },
      initialFetchTimeout: zeroDuration(),
      resourceApiVersion: "V3",
    },
  };
}

/** Istio's credentials.ToResourceName: `kubernetes://NAME` unless the name already has a scheme. */
export function credentialResourceName(name: string): string {
  return name.includes("://") ? name : `${KUBERNETES_SECRET}${name}`;
}

/**
 * Istio's ConstructSdsSecretConfigForCredential: a credentialName secret over ADS (the control
 * plane serves it). `builtin://` names the workload's own certificate (and `builtin://-cacert` the
 * mesh root), as in Istio. The 0s initial fetch timeout is the issue-13 contract's.
 */
export function credentialSdsSecretConfig(credentialName: string): SdsSecretConfig {
  if (credentialName === BUILTIN) return workloadSdsSecretConfig(SDS_DEFAULT_RESOURCE);
  if (credentialName === BUILTIN + SDS_CA_SUFFIX) return workloadSdsSecretConfig(SDS_ROOT_RESOURCE);
  return { name: credentialResourceName(credentialName), sdsConfig: { ads: {}, initialFetchTimeout: zeroDuration(), resourceApiVersion: "V3" } };
}

/** SPIFFE identity of a service account: `spiffe://TRUST_DOMAIN/ns/NS/sa/SA` (Istio's spiffe.MustGenSpiffeURI). */
export function spiffeIdentity(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}
