// A sidecar's inbound mTLS as Istio generates it (pilot/pkg/networking/plugin/authn Builder,
// pilot/pkg/security/authn/utils BuildInboundTLS, pilot/pkg/networking/core/filterchain_options.go):
// the PeerAuthentication mode of each workload port decides the filter chains of the port —
// PERMISSIVE accepts Istio mTLS (TLS with Istio's ALPN, terminated with the workload certificate,
// client certificate required) and plaintext side by side, STRICT only mTLS (a plaintext
// connection matches no chain and is closed), DISABLE only plaintext — and their TLS contexts.
import type { DownstreamTlsContext } from "../../envoy/types.js";
import { mtlsModeForPort, type MergedPeerAuthentication, type MutualTLSMode } from "../../model/authentication.js";
import type { Proxy } from "../../model/proxy.js";
import { labelsKey, type PushContext } from "../../model/push-context.js";
import { PLAINTEXT_HTTP_ALPNS, RAW_BUFFER, TLS_TRANSPORT } from "./filters.js";
import { SDS_DEFAULT_RESOURCE, SDS_ROOT_RESOURCE, workloadSdsSecretConfig } from "./sds.js";

/** Istio's ListenerProtocol for a chain: HTTP (connection manager) or TCP (tcp_proxy); AUTO splits into both. */
export type ChainProtocol = "HTTP" | "TCP";
export type InboundProtocol = ChainProtocol | "AUTO";

/** Istio's FilterChainMatchOptions. */
export interface FilterChainMatchOption {
  applicationProtocols?: readonly string[];
  transportProtocol: string;
  protocol: ChainProtocol;
  /** Terminate Istio mTLS on this chain. */
  tls: boolean;
}

/** The mTLS settings of one workload port (Istio's authn.MTLSSettings). */
export interface MtlsSettings {
  port: number;
  mode: MutualTLSMode;
  tcp?: DownstreamTlsContext;
  http?: DownstreamTlsContext;
}

// ALPN values (Istio's listener.go): what the client sidecar offers, by what it learned of the traffic.
/** HTTP the client's outbound listener recognised, sent over mTLS (Istio's istio.alpn filter sets these). */
const MTLS_HTTP_ALPNS = ["istio-http/1.0", "istio-http/1.1", "istio-h2"];
/** Every ALPN Istio's client sidecars offer over mTLS. */
const ALL_ISTIO_MTLS_ALPNS = ["istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2"];
/** TCP (or unrecognised traffic) over mTLS with metadata exchange. */
const MTLS_TCP_ALPNS = ["istio-peer-exchange", "istio"];

/** Server-side ALPN: HTTP chains negotiate h2 or HTTP/1.1; TCP chains also accept metadata exchange. */
const ALPN_HTTP = ["h2", "http/1.1"];
const ALPN_DOWNSTREAM_MX = ["istio-peer-exchange", "h2", "http/1.1"];

/** Istio's SupportedCiphers for sidecar servers. */
const SUPPORTED_CIPHERS = [
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "AES256-GCM-SHA384",
  "AES128-GCM-SHA256",
];

const opt = (protocol: ChainProtocol, transportProtocol: string, tls: boolean, applicationProtocols?: readonly string[]): FilterChainMatchOption =>
  applicationProtocols ? { applicationProtocols, transportProtocol, protocol, tls } : { transportProtocol, protocol, tls };

const PERMISSIVE_AUTO = [
  opt("HTTP", TLS_TRANSPORT, true, MTLS_HTTP_ALPNS),
  opt("HTTP", RAW_BUFFER, false, PLAINTEXT_HTTP_ALPNS),
  opt("TCP", TLS_TRANSPORT, true, MTLS_TCP_ALPNS),
  opt("TCP", RAW_BUFFER, false),
  // TLS that is not Istio's (a client without sidecar speaking HTTPS): passed to the app as TCP.
  opt("TCP", TLS_TRANSPORT, false),
];
const PERMISSIVE_HTTP = [opt("HTTP", TLS_TRANSPORT, true, ALL_ISTIO_MTLS_ALPNS), opt("HTTP", RAW_BUFFER, false)];
const PERMISSIVE_TCP = [opt("TCP", TLS_TRANSPORT, true, ALL_ISTIO_MTLS_ALPNS), opt("TCP", TLS_TRANSPORT, false), opt("TCP", RAW_BUFFER, false)];
const STRICT_AUTO = [opt("HTTP", TLS_TRANSPORT, true, MTLS_HTTP_ALPNS), opt("TCP", TLS_TRANSPORT, true)];
const STRICT_TCP = [opt("TCP", TLS_TRANSPORT, true)];
const STRICT_HTTP = [opt("HTTP", TLS_TRANSPORT, true)];
const PLAINTEXT_AUTO = [opt("HTTP", RAW_BUFFER, false, PLAINTEXT_HTTP_ALPNS), opt("TCP", RAW_BUFFER, false)];
const PLAINTEXT_TCP = [opt("TCP", RAW_BUFFER, false)];
const PLAINTEXT_HTTP = [opt("HTTP", RAW_BUFFER, false)];

/** Istio's getFilterChainMatchOptions: the chains a port gets for its mode and protocol. */
export function filterChainMatchOptions(mode: MutualTLSMode, protocol: InboundProtocol): readonly FilterChainMatchOption[] {
  const strict = mode === "STRICT";
  const permissive = mode === "PERMISSIVE";
  if (protocol === "HTTP") return strict ? STRICT_HTTP : permissive ? PERMISSIVE_HTTP : PLAINTEXT_HTTP;
  if (protocol === "AUTO") return strict ? STRICT_AUTO : permissive ? PERMISSIVE_AUTO : PLAINTEXT_AUTO;
  return strict ? STRICT_TCP : permissive ? PERMISSIVE_TCP : PLAINTEXT_TCP;
}

/**
 * Istio's BuildInboundTLS: the workload certificate and the mesh root from the agent, a client
 * certificate required and its SPIFFE ID checked to be in one of the trusted domains, TLS 1.2+
 * with Istio's server ciphers. Undefined for DISABLE/UNKNOWN.
 */
export function inboundTlsContext(mode: MutualTLSMode, protocol: ChainProtocol, trustDomains: readonly string[]): DownstreamTlsContext | undefined {
  if (mode === "DISABLE" || mode === "UNKNOWN") return undefined;
  return {
    commonTlsContext: {
      tlsParams: { tlsMinimumProtocolVersion: "TLSv1_2", tlsMaximumProtocolVersion: "TLSv1_3", cipherSuites: [...SUPPORTED_CIPHERS] },
      tlsCertificateSdsSecretConfigs: [workloadSdsSecretConfig(SDS_DEFAULT_RESOURCE)],
      combinedValidationContext: {
        defaultValidationContext: { matchSubjectAltNames: trustDomains.map((td) => ({ prefix: `spiffe://${td}/` })) },
        validationContextSdsSecretConfig: workloadSdsSecretConfig(SDS_ROOT_RESOURCE),
      },
      // The server must not offer "istio": it would be chosen over the real protocol (h2).
      alpnProtocols: protocol === "TCP" ? ALPN_DOWNSTREAM_MX : ALPN_HTTP,
    },
    requireClientCertificate: { value: true },
  };
}

/** Istio's authn Builder for a sidecar: the PeerAuthentication in force for its workload, per port. */
export class InboundMtls {
  private readonly policy: MergedPeerAuthentication;
  private readonly trustDomains: readonly string[];

  constructor(push: PushContext, proxy: Proxy) {
    this.policy = push.memo(`pa/${proxy.namespace}/${labelsKey(proxy.labels)}`, () =>
      push.authnPolicies.effective(proxy.namespace, proxy.labels),
    );
    this.trustDomains = [push.mesh.trustDomain];
  }

  /** Istio's ForPort: the settings of a workload port (0: the passthrough chains). */
  forPort(port: number): MtlsSettings {
    const mode = mtlsModeForPort(this.policy, port);
    const out: MtlsSettings = { port, mode };
    const tcp = inboundTlsContext(mode, "TCP", this.trustDomains);
    if (tcp) {
      out.tcp = tcp;
      out.http = inboundTlsContext(mode, "HTTP", this.trustDomains);
    }
    return out;
  }

  /** Ports with a port-level mode (they get passthrough chains of their own when no service declares them). */
  portLevelPorts(): number[] {
    return [...this.policy.perPort.keys()].sort((a, b) => a - b);
  }
}
