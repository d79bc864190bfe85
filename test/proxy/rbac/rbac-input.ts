// What the RBAC tests share: a request or connection as the RBAC matchers see it (RbacInput), and
// real TLS connections on loopback whose server-side socket carries a client certificate from
// test/fixtures/tls (client.crt: URI, DNS SANs and CN; revoked.crt: a DNS SAN and CN only), and
// SPIFFE SVIDs from a mesh CA for listeners that require client certificates.
import { once } from "node:events";
import * as tls from "node:tls";
import { DynamicMetadata } from "../../../src/proxy/dynamic-metadata.js";
import { type RbacInput, requestedServerName } from "../../../src/proxy/rbac/engine.js";
import type { ProtoObject } from "../../../src/envoy/protos.js";
import { DOWNSTREAM_TLS, type Svid, TestPki } from "../sds-pki.js";
import { pem } from "../upstream/tls-fixtures.js";

export interface InputOptions {
  headers?: Record<string, string | string[]>;
  method?: string;
  authority?: string;
  path?: string;
  localAddress?: string;
  localPort?: number;
  remoteAddress?: string;
  directRemoteAddress?: string;
  downstreamRemoteAddress?: string;
  tls?: tls.TLSSocket;
  /** The SNI tls_inspector read (a connection whose TLS is not terminated). */
  sni?: string;
  metadata?: DynamicMetadata;
}

/** An RbacInput with defaults (an HTTP request from 10.0.0.1 to 10.0.0.2:8080). */
export function rbacInput(o: InputOptions = {}): RbacInput {
  const h = o.headers ?? {};
  return {
    header: (n) => {
      const v = h[n];
      return Array.isArray(v) ? v.join(",") : v;
    },
    method: o.method ?? "GET",
    authority: o.authority ?? "example.com",
    scheme: "http",
    path: "path" in o ? o.path : "/",
    localAddress: o.localAddress ?? "10.0.0.2",
    localPort: o.localPort ?? 8080,
    remoteAddress: o.remoteAddress ?? "10.0.0.1",
    directRemoteAddress: o.directRemoteAddress ?? o.remoteAddress ?? "10.0.0.1",
    downstreamRemoteAddress: o.downstreamRemoteAddress ?? o.remoteAddress ?? "10.0.0.1",
    tls: o.tls,
    requestedServerName: requestedServerName(o.tls, o.sni),
    dynamicMetadata: o.metadata ?? new DynamicMetadata(),
  };
}

/** A real TLS connection on `ip`: the server side's socket, after the handshake, and a closer. */
export async function tlsPair(ip: string, client: { cert?: string; key?: string; servername?: string }): Promise<{ server: tls.TLSSocket; close(): void }> {
  const srv = tls.createServer({ cert: pem("server.crt"), key: pem("server.key"), requestCert: true, rejectUnauthorized: false });
  srv.on("tlsClientError", () => {});
  await new Promise<void>((r) => srv.listen(0, ip, () => r()));
  const port = (srv.address() as { port: number }).port;
  const accepted = once(srv, "secureConnection") as Promise<[tls.TLSSocket]>;
  const c = tls.connect({ host: ip, port, rejectUnauthorized: false, servername: client.servername, cert: client.cert ? pem(client.cert) : undefined, key: client.key ? pem(client.key) : undefined });
  c.on("error", () => {});
  const [server] = await accepted;
  return {
    server,
    close: () => {
      c.destroy();
      server.destroy();
      srv.close();
    },
  };
}

/** A mesh CA, a server SVID for the listener and client SVIDs in namespaces foo and bar. */
export interface MeshIdentities {
  readonly pki: TestPki;
  readonly foo: Svid;
  readonly bar: Svid;
  /** The listener's transport socket: TLS with the server SVID inline, client certificates required and checked against the mesh root. */
  readonly transportSocket: ProtoObject;
}

export async function meshIdentities(serverAccount: string, serverNamespace: string): Promise<MeshIdentities> {
  const pki = await TestPki.create();
  const server = await pki.svid(serverAccount, serverNamespace);
  const tlsContext = {
    "@type": DOWNSTREAM_TLS,
    requireClientCertificate: { value: true },
    commonTlsContext: {
      tlsCertificates: [{ certificateChain: { inlineString: server.secret.certificateChainPem }, privateKey: { inlineString: server.secret.privateKeyPem } }],
      validationContext: { trustedCa: { inlineString: pki.root.trustedCaPem } },
    },
  };
  return { pki, foo: await pki.svid("a", "foo"), bar: await pki.svid("b", "bar"), transportSocket: { name: "envoy.transport_sockets.tls", typedConfig: tlsContext } };
}
