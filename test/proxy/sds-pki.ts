// What the SDS tests share: a mesh CA (src/security/ca.ts, a self-signed root in a temporary folder)
// issuing SPIFFE SVIDs for workload identities from CSRs made as the agent makes them, the secrets
// the agent would hand the proxy (`default`, `ROOTCA`), and the TLS context shapes Istio writes for
// them (sds_config through the sds-grpc cluster, or ADS).
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ProtoObject } from "../../src/envoy/protos.js";
import { MeshCa } from "../../src/security/ca.js";
import { generateCsr } from "../../src/security/csr.js";
import { spiffeUri } from "../../src/security/spiffe.js";
import type { TlsCertificateSecret, ValidationContextSecret } from "../../src/proxy/tls/secrets.js";

export const TRUST_DOMAIN = "cluster.local";

/** A certificate serial as /certs prints it (node's upper-case hex, lower-cased, leading zero bytes dropped). */
export function serialHex(nodeSerial: string): string {
  return nodeSerial.toLowerCase().replace(/^(00)+(?=..)/, "");
}

/** An SVID as the agent holds it: the `default` secret, its SPIFFE URI and serial. */
export interface Svid {
  readonly secret: TlsCertificateSecret;
  readonly uri: string;
  /** Lower-case hex, as /certs prints it. */
  readonly serial: string;
}

export class TestPki {
  private constructor(
    private readonly dir: string,
    readonly ca: MeshCa,
  ) {}

  static async create(): Promise<TestPki> {
    const dir = mkdtempSync(join(tmpdir(), "tsmesh-sds-"));
    return new TestPki(dir, await MeshCa.selfSigned(dir, { trustDomain: TRUST_DOMAIN }));
  }

  /** `ROOTCA`: the mesh roots. */
  get root(): ValidationContextSecret {
    return { kind: "validationContext", trustedCaPem: this.ca.rootsPem.join("") };
  }

  /** A fresh SVID for spiffe://cluster.local/ns/NS/sa/SA (a new key each time: a rotation). */
  async svid(serviceAccount: string, namespace = "default"): Promise<Svid> {
    const id = { trustDomain: TRUST_DOMAIN, namespace, serviceAccount };
    const uri = spiffeUri(id);
    const { csrPem, keyPem } = await generateCsr({ uris: [uri], organization: TRUST_DOMAIN });
    const chain = await this.ca.sign(csrPem, id);
    // The workload presents its leaf and the CA chain below the root (here: the leaf).
    const certificateChainPem = chain.slice(0, -1).join("");
    const serial = serialHex(new X509Certificate(chain[0]).serialNumber);
    return { secret: { kind: "tlsCertificate", certificateChainPem, privateKeyPem: keyPem }, uri, serial };
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Istio's sds_config for the agent's secrets. */
export const SDS_GRPC = {
  apiConfigSource: { apiType: "GRPC", setNodeOnFirstMessageOnly: true, transportApiVersion: "V3", grpcServices: [{ envoyGrpc: { clusterName: "sds-grpc" } }] },
  initialFetchTimeout: { seconds: 0 },
  resourceApiVersion: "V3",
};
/** Istio's sds_config for credentialName secrets. */
export const SDS_ADS = { ads: {}, initialFetchTimeout: { seconds: 0 }, resourceApiVersion: "V3" };

/** A CommonTlsContext as Istio writes it for ISTIO_MUTUAL: `default` + `ROOTCA`, peers matched by SPIFFE URI. */
export function istioMutual(peerUris: readonly string[], alpn: readonly string[] = []): ProtoObject {
  return {
    tlsCertificateSdsSecretConfigs: [{ name: "default", sdsConfig: SDS_GRPC }],
    combinedValidationContext: {
      defaultValidationContext: peerUris.length ? { matchSubjectAltNames: peerUris.map((u) => ({ exact: u })) } : {},
      validationContextSdsSecretConfig: { name: "ROOTCA", sdsConfig: SDS_GRPC },
    },
    ...(alpn.length ? { alpnProtocols: alpn } : {}),
  };
}

export const UPSTREAM_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
export const DOWNSTREAM_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";

/** A STATIC cluster to address:port with an UpstreamTlsContext (or plaintext). */
export function staticCluster(name: string, address: string, port: number, common?: ProtoObject): ProtoObject {
  return {
    name,
    type: "STATIC",
    connectTimeout: { seconds: 5 },
    loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address, portValue: port } } } }] }] },
    ...(common ? { transportSocket: { name: "envoy.transport_sockets.tls", typedConfig: { "@type": UPSTREAM_TLS, commonTlsContext: common } } } : {}),
  };
}

/** An HTTP connection manager routing everything to `cluster`, or by path prefix (`{"/a": "cluster-a"}`). */
export function hcm(cluster: string | Record<string, string>): ProtoObject {
  const byPrefix = typeof cluster === "string" ? { "/": cluster } : cluster;
  const routes = Object.entries(byPrefix).map(([prefix, c]) => ({ match: { prefix }, route: { cluster: c } }));
  return {
    name: "envoy.filters.network.http_connection_manager",
    typedConfig: {
      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
      statPrefix: "http",
      routeConfig: { name: "r", virtualHosts: [{ name: "v", domains: ["*"], routes }] },
      httpFilters: [{ name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
    },
  };
}

/** A listener on address:port to `cluster`, terminating TLS with `downstream` (a DownstreamTlsContext) when given. */
export function httpListener(name: string, address: string, port: number, cluster: string | Record<string, string>, downstream?: ProtoObject): ProtoObject {
  const chain: ProtoObject = { filters: [hcm(cluster)] };
  if (downstream) chain.transportSocket = { name: "envoy.transport_sockets.tls", typedConfig: { "@type": DOWNSTREAM_TLS, ...downstream } };
  return {
    name,
    address: { socketAddress: { address, portValue: port } },
    ...(downstream ? { listenerFilters: [{ name: "envoy.filters.listener.tls_inspector", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector" } }] } : {}),
    filterChains: [chain],
  };
}
