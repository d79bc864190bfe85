// Upstream TLS of outbound clusters (Istio's pilot/pkg/networking/core/cluster_tls.go): the
// DestinationRule's ClientTLSSettings (ISTIO_MUTUAL / MUTUAL / SIMPLE / DISABLE) as an
// UpstreamTlsContext, and auto mTLS — with no TLS setting in the DestinationRule, ISTIO_MUTUAL
// to endpoints whose metadata says they have a sidecar (`tlsMode: istio`) and plaintext to the
// rest, as `transport_socket_matches`, unless the destination's namespace/mesh PeerAuthentication
// is DISABLE (Istio's BestEffortInferServiceMTLSMode).
import { anyOf, struct } from "../../envoy/protos.js";
import type {
  CertificateValidationContext,
  Cluster,
  CommonTlsContext,
  SubjectAltNameMatcher,
  TlsParameters,
  TransportSocket,
  UpstreamTlsContext,
} from "../../envoy/types.js";
import type { MutualTLSMode } from "../../model/authentication.js";
import type { PushContext } from "../../model/push-context.js";
import type { Service } from "../../registry/model.js";
import { TRANSPORT_SOCKET_TLS } from "./filters.js";
import { credentialSdsSecretConfig, SDS_CA_SUFFIX, SDS_DEFAULT_RESOURCE, SDS_ROOT_RESOURCE, workloadSdsSecretConfig } from "./sds.js";
import type { ClientTLSSettings, ClusterTrafficPolicy } from "./traffic-policy.js";

export const UPSTREAM_TLS_CONTEXT = "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
const RAW_BUFFER_SOCKET = "envoy.transport_sockets.raw_buffer";
const RAW_BUFFER_TYPE = "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer";
/** Endpoint metadata key the transport socket matches read (Istio's EnvoyTransportSocketMetadataKey). */
export const TRANSPORT_SOCKET_MATCH_KEY = "envoy.transport_socket_match";
/** Istio's security.istio.io/tlsMode label values. */
export const ISTIO_MUTUAL_TLS_MODE = "istio";
export const DISABLED_TLS_MODE = "disabled";
/** ALPN a client sidecar offers an in-mesh server (Istio's ALPNInMeshWithMxc / ALPNInMeshH2WithMxc). */
const ALPN_IN_MESH = ["istio-peer-exchange", "istio"];
const ALPN_IN_MESH_H2 = ["istio-peer-exchange", "istio", "h2"];

/** Everything the TLS builder needs besides the settings. */
export interface UpstreamTlsContextOptions {
  /** Istio's default SNI for ISTIO_MUTUAL: `outbound_.PORT_.SUBSET_.HOST`. */
  istioMtlsSni: string;
  /** Identities of the service's workloads (SPIFFE URIs) for ISTIO_MUTUAL SAN checks. */
  serviceAccounts: readonly string[];
  /** ServiceEntry subjectAltNames: the SAN default for SIMPLE/MUTUAL. */
  serviceSubjectAltNames: readonly string[];
  /** The cluster speaks HTTP/2 upstream (ALPN h2). */
  http2: boolean;
}

export interface UpstreamTls {
  transportSocket: TransportSocket;
  autoSni: boolean;
  autoSanValidation: boolean;
  /** SIMPLE/MUTUAL: the user's TLS (the proxy must not override ALPN). */
  userTls: boolean;
}

/** Istio's defaultUpstreamCommonTLSContext: TLS 1.2 to 1.3. */
function upstreamTlsParams(): TlsParameters {
  return { tlsMinimumProtocolVersion: "TLSv1_2", tlsMaximumProtocolVersion: "TLSv1_3" };
}

function sanType(san: string): SubjectAltNameMatcher["sanType"] {
  if (san.includes("://")) return "URI";
  if (/^[0-9.]+$/.test(san) || san.includes(":")) return "IP_ADDRESS";
  if (san.includes("@")) return "EMAIL";
  return "DNS";
}

/** Exact SAN matchers (`matchTypedSubjectAltNames`), typed by what the name looks like. */
export function sanMatchers(sans: readonly string[]): SubjectAltNameMatcher[] {
  return sans.map((s) => ({ sanType: sanType(s), matcher: { exact: s } }));
}

/** The ISTIO_MUTUAL context: the workload certificate and mesh root from the agent, SAN checks, Istio's ALPN. */
function istioMutualContext(tls: ClientTLSSettings, o: UpstreamTlsContextOptions): UpstreamTlsContext {
  const sans = tls.subjectAltNames?.length ? tls.subjectAltNames : o.serviceAccounts;
  const common: CommonTlsContext = {
    tlsParams: upstreamTlsParams(),
    tlsCertificateSdsSecretConfigs: [workloadSdsSecretConfig(SDS_DEFAULT_RESOURCE)],
    combinedValidationContext: {
      // Istio's util.StringToExactMatch: untyped exact matchers, checked against every SAN.
      defaultValidationContext: sans.length ? { matchSubjectAltNames: sans.map((exact) => ({ exact })) } : {},
      validationContextSdsSecretConfig: workloadSdsSecretConfig(SDS_ROOT_RESOURCE),
    },
    // `istio-peer-exchange` announces metadata exchange, then Istio's in-mesh protocols.
    alpnProtocols: o.http2 ? ALPN_IN_MESH_H2 : ALPN_IN_MESH,
  };
  return { commonTlsContext: common, sni: tls.sni || o.istioMtlsSni };
}

/** The transport socket a ClientTLSSettings asks for, plus auto-SNI needs (undefined for DISABLE/none). */
export function upstreamTls(tls: ClientTLSSettings | undefined, o: UpstreamTlsContextOptions): UpstreamTls | undefined {
  if (!tls || !tls.mode || tls.mode === "DISABLE") return undefined;
  if (tls.mode === "ISTIO_MUTUAL") {
    return { transportSocket: tlsSocket(istioMutualContext(tls, o)), autoSni: false, autoSanValidation: false, userTls: false };
  }
  const common: CommonTlsContext = { tlsParams: upstreamTlsParams() };
  const mutual = tls.mode === "MUTUAL";
  const insecure = tls.insecureSkipVerify === true;
  const sans = tls.subjectAltNames?.length ? tls.subjectAltNames : o.serviceSubjectAltNames;
  const autoSni = !tls.sni;
  const autoSanValidation = autoSni && sans.length === 0 && !insecure;
  if (tls.credentialName) {
    if (mutual) common.tlsCertificateSdsSecretConfigs = [credentialSdsSecretConfig(tls.credentialName)];
    if (!insecure) {
      common.combinedValidationContext = {
        defaultValidationContext: sans.length ? { matchTypedSubjectAltNames: sanMatchers(sans) } : {},
        validationContextSdsSecretConfig: credentialSdsSecretConfig(tls.credentialName + SDS_CA_SUFFIX),
      };
    }
  } else {
    if (mutual && tls.clientCertificate && tls.privateKey) {
      common.tlsCertificates = [{ certificateChain: { filename: tls.clientCertificate }, privateKey: { filename: tls.privateKey } }];
    }
    if (!insecure) {
      // Without caCertificates Istio verifies against the system roots.
      const vc: CertificateValidationContext = tls.caCertificates ? { trustedCa: { filename: tls.caCertificates } } : { systemRootCerts: {} };
      if (sans.length) vc.matchTypedSubjectAltNames = sanMatchers(sans);
      if (tls.caCrl) vc.crl = { filename: tls.caCrl };
      common.validationContext = vc;
    }
  }
  if (o.http2) common.alpnProtocols = ["h2"];
  const ctx: UpstreamTlsContext = { commonTlsContext: common };
  if (tls.sni) ctx.sni = tls.sni;
  return { transportSocket: tlsSocket(ctx), autoSni, autoSanValidation, userTls: true };
}

function tlsSocket(ctx: UpstreamTlsContext): TransportSocket {
  return { name: TRANSPORT_SOCKET_TLS, typedConfig: anyOf(UPSTREAM_TLS_CONTEXT, ctx) };
}

/**
 * Istio's BestEffortInferServiceMTLSMode: the mTLS mode a client assumes for a service (PeerAuthentication
 * is per workload, so only the namespace and mesh policies count). External services: UNKNOWN.
 * Passthrough (resolution NONE or a PASSTHROUGH load balancer): DISABLE unless every endpoint has a sidecar.
 */
export function inferServiceMtlsMode(push: PushContext, service: Service, lbPolicy: ClusterTrafficPolicy["loadBalancer"] | undefined): MutualTLSMode {
  if (service.meshExternal) return "UNKNOWN";
  if (service.resolution === "NONE" || lbPolicy?.simple === "PASSTHROUGH") {
    const eps = push.registry.endpoints(service);
    if (eps.length === 0 || eps.some((e) => e.tlsMode === DISABLED_TLS_MODE)) return "DISABLE";
  }
  const mode = push.authnPolicies.namespaceMutualTLSMode(service.namespace);
  return mode === "UNKNOWN" ? "PERMISSIVE" : mode;
}

export interface ClusterTlsInput {
  /** The DestinationRule's TLS settings for this cluster (port and subset resolved). */
  tls: ClientTLSSettings | undefined;
  service: Service;
  /** The load balancer setting that decides passthrough for the mode inference (the subset's for a subset cluster). */
  inferenceLb: ClusterTrafficPolicy["loadBalancer"] | undefined;
  options: UpstreamTlsContextOptions;
  /** ORIGINAL_DST clusters keep a plain transport socket (Istio applies no socket matches to them). */
  originalDst: boolean;
}

/** What TLS contributes to a cluster: a transport socket, or transport socket matches (auto mTLS). */
export interface ClusterTls {
  transportSocket?: TransportSocket;
  transportSocketMatches?: Cluster.TransportSocketMatch[];
  upstream?: UpstreamTls;
}

/** Istio's buildUpstreamTLSSettings + applyUpstreamTLSSettings for an outbound cluster. */
export function clusterTls(push: PushContext, i: ClusterTlsInput): ClusterTls {
  if (i.tls) {
    const up = upstreamTls(i.tls, i.options);
    return up ? { transportSocket: up.transportSocket, upstream: up } : {};
  }
  if (!push.mesh.enableAutoMtls) return {};
  const mode = inferServiceMtlsMode(push, i.service, i.inferenceLb);
  if (mode === "UNKNOWN" || mode === "DISABLE") return {};
  const up = upstreamTls({ mode: "ISTIO_MUTUAL" }, i.options)!;
  if (i.originalDst) return { transportSocket: up.transportSocket, upstream: up };
  return {
    upstream: up,
    transportSocketMatches: [
      { name: `tlsMode-${ISTIO_MUTUAL_TLS_MODE}`, match: struct({ tlsMode: ISTIO_MUTUAL_TLS_MODE }), transportSocket: up.transportSocket },
      // Endpoints without the label, or with another value: plaintext.
      { name: `tlsMode-${DISABLED_TLS_MODE}`, match: {}, transportSocket: { name: RAW_BUFFER_SOCKET, typedConfig: anyOf(RAW_BUFFER_TYPE, {}) } },
    ],
  };
}
