// The substitution formatter's downstream TLS commands (%DOWNSTREAM_PEER_URI_SAN% …) read from a real
// mutual-TLS connection on loopback, with SVIDs signed by the mesh CA.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as tls from "node:tls";
import { HeaderMutations, type HeaderMap } from "../../../src/proxy/http/headers.js";
import { applyXfcc } from "../../../src/proxy/http/xfcc.js";
import { MeshCa } from "../../../src/security/ca.js";
import { generateCsr } from "../../../src/security/csr.js";
import { spiffeUri } from "../../../src/security/spiffe.js";

const id = (sa: string) => ({ trustDomain: "cluster.local", namespace: "foo", serviceAccount: sa });

describe("formatter: downstream TLS commands", () => {
  let dir: string;
  let serverSide: tls.TLSSocket;
  let client: tls.TLSSocket;
  let server: tls.Server;
  let clientCertPem: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "tsmesh-tls-fmt-"));
    const ca = await MeshCa.selfSigned(dir, { trustDomain: "cluster.local" });
    const svid = async (sa: string) => {
      const { csrPem, keyPem } = await generateCsr({ uris: [spiffeUri(id(sa))] });
      const chain = await ca.sign(csrPem, id(sa));
      return { cert: chain.slice(0, -1).join(""), key: keyPem };
    };
    const s = await svid("httpbin");
    const c = await svid("sleep");
    clientCertPem = c.cert;
    const accepted = new Promise<tls.TLSSocket>((resolve) => {
      server = tls.createServer({ ...s, ca: ca.rootsPem.join(""), requestCert: true, rejectUnauthorized: true }, resolve);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    client = tls.connect({ host: "127.0.0.1", port, ...c, ca: ca.rootsPem.join(""), checkServerIdentity: () => undefined });
    await new Promise<void>((r, j) => client.once("secureConnect", r).once("error", j));
    serverSide = await accepted;
  });

  after(() => {
    client?.destroy();
    serverSide?.destroy();
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const render = (format: string, socket: tls.TLSSocket | undefined): string => {
    const h: HeaderMap = {};
    HeaderMutations.compile([{ header: { key: "x", value: format }, keepEmptyValue: true }], [])?.apply(h, { downstreamTls: socket });
    return String(h.x);
  };

  it("peer and local URI SANs are the two SPIFFE IDs", () => {
    assert.equal(render("%DOWNSTREAM_PEER_URI_SAN%", serverSide), "spiffe://cluster.local/ns/foo/sa/sleep");
    assert.equal(render("%DOWNSTREAM_LOCAL_URI_SAN%", serverSide), "spiffe://cluster.local/ns/foo/sa/httpbin");
  });

  it("peer serial, fingerprint, validity and issuer come from the client's certificate", () => {
    const peer = serverSide.getPeerX509Certificate()!;
    assert.equal(render("%DOWNSTREAM_PEER_SERIAL%", serverSide), peer.serialNumber.toLowerCase());
    assert.equal(render("%DOWNSTREAM_PEER_FINGERPRINT_256%", serverSide), peer.fingerprint256.replace(/:/g, "").toLowerCase());
    assert.equal(render("%DOWNSTREAM_PEER_CERT_V_END%", serverSide), new Date(peer.validTo).toISOString());
    assert.match(render("%DOWNSTREAM_PEER_ISSUER%", serverSide), /O=cluster\.local/);
    assert.ok(clientCertPem.includes("BEGIN CERTIFICATE"));
  });

  it("the TLS version and cipher are the negotiated ones", () => {
    assert.equal(render("%DOWNSTREAM_TLS_VERSION%", serverSide), serverSide.getProtocol());
    assert.equal(render("%DOWNSTREAM_TLS_CIPHER%", serverSide), serverSide.getCipher().standardName);
  });

  it("XFCC for an SVID (no subject at all) is Istio's: By, Hash, Subject=\"\", URI", () => {
    const h: Record<string, string> = {};
    applyXfcc({ mode: "APPEND_FORWARD", subject: true, dns: true, uri: true, cert: false, chain: false }, h, serverSide);
    const hash = serverSide.getPeerX509Certificate()!.fingerprint256.replace(/:/g, "").toLowerCase();
    assert.equal(h["x-forwarded-client-cert"], `By=spiffe://cluster.local/ns/foo/sa/httpbin;Hash=${hash};Subject="";URI=spiffe://cluster.local/ns/foo/sa/sleep`);
    assert.equal(render("[%DOWNSTREAM_PEER_SUBJECT%]", serverSide), "[]");
  });

  it("on a plaintext connection every TLS command is empty", () => {
    for (const c of ["DOWNSTREAM_PEER_URI_SAN", "DOWNSTREAM_LOCAL_URI_SAN", "DOWNSTREAM_TLS_VERSION", "DOWNSTREAM_PEER_SUBJECT"]) assert.equal(render(`[%${c}%]`, undefined), "[]");
  });
});
