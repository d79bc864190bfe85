// What the upstream TLS tests share: the certificates in test/fixtures/tls, an HTTPS backend that
// records the SNI, ALPN and client certificate of each request, STATIC clusters with an
// UpstreamTlsContext, and the addresses of tls.test.ts's backends (127.0.68.50-56; tls-san.test.ts
// uses 127.0.68.57-58 and tls-destination-rule.test.ts 127.0.68.60-61, each file its own).
import { readFileSync } from "node:fs";
import * as https from "node:https";
import { join } from "node:path";
import * as tls from "node:tls";
import { packageRoot } from "../../../src/core/paths.js";
import { type ProtoObject } from "../../../src/envoy/protos.js";

const FIX = join(packageRoot(), "test", "fixtures", "tls");
export const file = (n: string) => join(FIX, n);
export const pem = (n: string) => readFileSync(file(n));

export const PROXY_IP = "127.0.68.50";
export const HTTPS_IP = "127.0.68.51"; // gateway.example.com / *.example.com, signed by ca.crt
export const MTLS_IP = "127.0.68.52"; // requires a client certificate signed by client-ca.crt
export const H2_IP = "127.0.68.53"; // HTTP/2 only (ALPN h2)
export const TCP_IP = "127.0.68.54"; // TLS echo for tcp_proxy
export const REVOKED_IP = "127.0.68.55"; // revoked.example.com, revoked by client-ca.crl
export const PLAIN_IP = "127.0.68.56"; // plaintext: must never see a byte from an SDS cluster

export interface SeenTls {
  url: string;
  host: string | undefined;
  sni: string | false | null | undefined;
  alpn: string | false | null | undefined;
  clientCn?: string;
}

export class HttpsBackend {
  readonly seen: SeenTls[] = [];
  server!: https.Server;

  constructor(
    readonly name: string,
    private readonly opts: https.ServerOptions,
  ) {}

  async start(address: string, port: number): Promise<this> {
    this.server = https.createServer({ cert: pem("server.crt"), key: pem("server.key"), ...this.opts }, (req, res) => {
      const s = req.socket as tls.TLSSocket;
      const peer = s.getPeerCertificate();
      this.seen.push({ url: req.url ?? "", host: req.headers.host, sni: s.servername, alpn: s.alpnProtocol, clientCn: peer?.subject ? String(peer.subject.CN) : undefined });
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/plain" });
        res.end(this.name);
      });
    });
    this.server.on("tlsClientError", () => {});
    await new Promise<void>((r) => this.server.listen(port, address, () => r()));
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const TLS_CTX = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
const HPO = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

export function tlsSocket(ctx: ProtoObject): ProtoObject {
  return { name: "envoy.transport_sockets.tls", typedConfig: { "@type": TLS_CTX, ...ctx } };
}

export function cluster(name: string, address: string, port: number, ctx: ProtoObject | undefined, extra: ProtoObject = {}): ProtoObject {
  return {
    name,
    type: "STATIC",
    connectTimeout: { seconds: 2 },
    loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address, portValue: port } } } }] }] },
    ...(ctx ? { transportSocket: tlsSocket(ctx) } : {}),
    ...extra,
  };
}

export const trustCa = (ca = "ca.crt", more: ProtoObject = {}) => ({ validationContext: { trustedCa: { filename: file(ca) }, ...more } });
export const httpOptions = (o: ProtoObject) => ({ typedExtensionProtocolOptions: { [HPO]: { "@type": `type.googleapis.com/${HPO}`, ...o } } });
