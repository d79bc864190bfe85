// Upstream TLS origination (a cluster's UpstreamTlsContext transport socket), end to end against
// real TLS servers on 127.0.68.5x: SIMPLE with a trusted CA, no validation context (no
// verification), a wrong CA, SAN matchers, MUTUAL (client certificate), CRLs, auto_sni and
// auto_sni_san_validation, HTTP/2 over TLS (ALPN h2), tcp_proxy over TLS, clusters whose secrets
// come over SDS (never plaintext), config errors. The SAN matcher table and downstream SAN checks
// are in tls-san.test.ts, a DestinationRule through the control plane in tls-destination-rule.test.ts.
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";
import { after, before, describe, it } from "node:test";
import { anyOf, type ProtoObject } from "../../../src/envoy/protos.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { clusterSpec } from "../../../src/proxy/upstream/cluster.js";
import { XdsConfigError } from "../../../src/proxy/xds-error.js";
import { eventually } from "../../helpers/eventually.js";
import { foreignAny } from "../../helpers/xds.js";
import { request } from "../helpers.js";
import { cluster, file, H2_IP, httpOptions, HTTPS_IP, HttpsBackend, MTLS_IP, pem, PLAIN_IP, PROXY_IP, REVOKED_IP, TCP_IP, trustCa } from "./tls-fixtures.js";

/** A plaintext TCP server that records every connection and byte it gets. */
class PlainSink {
  connections = 0;
  bytes = 0;
  private readonly server = net.createServer((s) => {
    this.connections++;
    s.on("data", (d: Buffer) => (this.bytes += d.length));
    s.on("error", () => {});
  });
  listen(address: string, port: number): Promise<void> {
    return new Promise((r) => this.server.listen(port, address, () => r()));
  }
  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

const SERVER_FINGERPRINT = new X509Certificate(pem("server.crt")).fingerprint256;
const SERVER_SPKI = createHash("sha256").update(new X509Certificate(pem("server.crt")).publicKey.export({ type: "spki", format: "der" })).digest("base64");

const CLUSTERS: ProtoObject[] = [
  cluster("simple", HTTPS_IP, 8443, { sni: "gateway.example.com", commonTlsContext: trustCa() }),
  cluster("inline-ca", HTTPS_IP, 8443, { sni: "gateway.example.com", commonTlsContext: { validationContext: { trustedCa: { inlineString: pem("ca.crt").toString() } } } }),
  cluster("noverify", HTTPS_IP, 8443, { commonTlsContext: {} }),
  cluster("wrongca", HTTPS_IP, 8443, { sni: "gateway.example.com", commonTlsContext: trustCa("client-ca.crt") }),
  cluster("sanok", HTTPS_IP, 8443, { commonTlsContext: trustCa("ca.crt", { matchTypedSubjectAltNames: [{ sanType: "DNS", matcher: { exact: "api.example.com" } }] }) }),
  cluster("sanbad", HTTPS_IP, 8443, { commonTlsContext: trustCa("ca.crt", { matchTypedSubjectAltNames: [{ sanType: "DNS", matcher: { exact: "other.test" } }, { sanType: "URI", matcher: { prefix: "spiffe://" } }] }) }),
  // Pins of server.crt: its SHA-256 fingerprint (colon form) and its SPKI; a pin alone needs no CA.
  cluster("pinhash", HTTPS_IP, 8443, { commonTlsContext: { validationContext: { verifyCertificateHash: [SERVER_FINGERPRINT] } } }),
  cluster("pinspki", HTTPS_IP, 8443, { commonTlsContext: trustCa("ca.crt", { verifyCertificateSpki: [SERVER_SPKI] }) }),
  cluster("pinbad", HTTPS_IP, 8443, { commonTlsContext: trustCa("ca.crt", { verifyCertificateHash: ["00".repeat(32)], verifyCertificateSpki: [Buffer.alloc(32, 1).toString("base64")] }) }),
  cluster("mtls", MTLS_IP, 8443, {
    sni: "gateway.example.com",
    commonTlsContext: { tlsCertificates: [{ certificateChain: { filename: file("client.crt") }, privateKey: { filename: file("client.key") } }], ...trustCa() },
  }),
  cluster("nocert", MTLS_IP, 8443, { commonTlsContext: trustCa() }),
  cluster("nocert12", MTLS_IP, 8443, { commonTlsContext: { ...trustCa(), tlsParams: { tlsMaximumProtocolVersion: "TLSv1_2" } } }),
  cluster("revoked", REVOKED_IP, 8443, { commonTlsContext: trustCa("client-ca.crt", { crl: { filename: file("client-ca.crl") } }) }),
  cluster("auto", HTTPS_IP, 8443, { commonTlsContext: trustCa() }, httpOptions({ upstreamHttpProtocolOptions: { autoSni: true, autoSanValidation: true }, explicitHttpConfig: { httpProtocolOptions: {} } })),
  cluster("autosni-only", HTTPS_IP, 8443, { commonTlsContext: trustCa() }, httpOptions({ upstreamHttpProtocolOptions: { autoSni: true } })),
  cluster("h2", H2_IP, 8443, { sni: "gateway.example.com", commonTlsContext: trustCa() }, httpOptions({ explicitHttpConfig: { http2ProtocolOptions: {} } })),
  cluster("h2-wrongca", H2_IP, 8443, { commonTlsContext: trustCa("client-ca.crt") }, httpOptions({ explicitHttpConfig: { http2ProtocolOptions: {} } })),
  cluster("h2-sds", PLAIN_IP, 8443, { commonTlsContext: { tlsCertificateSdsSecretConfigs: [{ name: "default", sdsConfig: { ads: {} } }] } }, httpOptions({ explicitHttpConfig: { http2ProtocolOptions: {} } })),
  cluster("sds", PLAIN_IP, 8443, {
    sni: "outbound_.8443_._.plain.default.svc.cluster.local",
    commonTlsContext: {
      tlsCertificateSdsSecretConfigs: [{ name: "default", sdsConfig: { ads: {} } }],
      combinedValidationContext: { defaultValidationContext: {}, validationContextSdsSecretConfig: { name: "ROOTCA", sdsConfig: { ads: {} } } },
    },
  }),
  cluster("tcptls", TCP_IP, 9443, { sni: "gateway.example.com", commonTlsContext: trustCa() }),
  cluster("tcpsds", PLAIN_IP, 8443, { commonTlsContext: { validationContextSdsSecretConfig: { name: "ROOTCA", sdsConfig: { ads: {} } } } }),
];

const MIRROR_ROUTE = { match: { prefix: "/mirror/" }, route: { cluster: "simple", requestMirrorPolicies: [{ cluster: "autosni-only" }, { cluster: "sds" }] } };
const ROUTES = ["simple", "inline-ca", "noverify", "wrongca", "sanok", "sanbad", "pinhash", "pinspki", "pinbad", "mtls", "nocert", "nocert12", "revoked", "auto", "h2", "h2-wrongca", "h2-sds", "sds"].map((c) => ({
  match: { prefix: `/${c}/` },
  route: { cluster: c },
}));

function hcm(name: string): ProtoObject {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typedConfig: {
      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
      statPrefix: name,
      routeConfig: { name: "r", virtualHosts: [{ name: "v", domains: ["*"], routes: [MIRROR_ROUTE, ...ROUTES] }] },
      httpFilters: [{ name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
    },
  };
}

function tcpProxy(cluster: string): ProtoObject {
  return {
    name: "envoy.filters.network.tcp_proxy",
    typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", statPrefix: cluster, cluster },
  };
}

const PROXY = `http://${PROXY_IP}:8080`;
const UPSTREAM_RESET = "upstream connect error or disconnect/reset before headers. reset reason: ";

describe("upstream TLS origination (UpstreamTlsContext)", () => {
  let proxy: ProxyServer;
  const logs: string[] = [];
  let plainHttps: HttpsBackend;
  let mtls: HttpsBackend;
  let revoked: HttpsBackend;
  let h2: http2.Http2SecureServer;
  const h2Seen: Array<{ sni: string | false | null | undefined; alpn: string | false | null | undefined; path: string }> = [];
  let tcpEcho: tls.Server;
  const tcpSni: Array<string | false | null | undefined> = [];
  const plain = new PlainSink();

  const c = (name: string) => (stat: string) => proxy.stats.counter(`cluster.${name}.${stat}`).value;

  before(async () => {
    plainHttps = await new HttpsBackend("https-backend", {}).start(HTTPS_IP, 8443);
    mtls = await new HttpsBackend("mtls-backend", { requestCert: true, rejectUnauthorized: true, ca: pem("client-ca.crt") }).start(MTLS_IP, 8443);
    revoked = await new HttpsBackend("revoked-backend", { cert: pem("revoked.crt"), key: pem("revoked.key") }).start(REVOKED_IP, 8443);
    h2 = http2.createSecureServer({ cert: pem("server.crt"), key: pem("server.key"), allowHTTP1: false }, (req, res) => {
      const s = req.socket as unknown as tls.TLSSocket;
      h2Seen.push({ sni: s.servername, alpn: s.alpnProtocol, path: req.url });
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("h2-backend");
    });
    await new Promise<void>((r) => h2.listen(8443, H2_IP, () => r()));
    tcpEcho = tls.createServer({ cert: pem("server.crt"), key: pem("server.key") }, (s) => {
      tcpSni.push(s.servername);
      s.on("data", (d: Buffer) => s.write(`tls:${d.toString()}`));
      s.on("end", () => s.end());
      s.on("error", () => {});
    });
    await new Promise<void>((r) => tcpEcho.listen(9443, TCP_IP, () => r()));
    await plain.listen(PLAIN_IP, 8443);
    proxy = new ProxyServer({
      node: { id: "upstream-tls" },
      log: (l) => logs.push(l),
      staticResources: {
        clusters: CLUSTERS,
        listeners: [
          { name: "http", address: { socketAddress: { address: PROXY_IP, portValue: 8080 } }, filterChains: [{ filters: [hcm("tls")] }] },
          { name: "tcp-tls", address: { socketAddress: { address: PROXY_IP, portValue: 9443 } }, filterChains: [{ filters: [tcpProxy("tcptls")] }] },
          { name: "tcp-sds", address: { socketAddress: { address: PROXY_IP, portValue: 9444 } }, filterChains: [{ filters: [tcpProxy("tcpsds")] }] },
        ],
      },
    });
    await proxy.start();
  });

  after(async () => {
    await proxy.close();
    await plainHttps.close();
    await mtls.close();
    await revoked.close();
    await new Promise<void>((r) => h2.close(() => r()));
    await new Promise<void>((r) => tcpEcho.close(() => r()));
    await plain.close();
  });

  it("SIMPLE: verifies the backend against the trusted CA (file or inline) and sends the configured SNI", async () => {
    for (const name of ["simple", "inline-ca"]) {
      const r = await request(`${PROXY}/${name}/x`, { headers: { host: "app.test" } });
      assert.equal(r.status, 200, `${name}: ${r.body}`);
      assert.equal(r.body, "https-backend");
      const seen = plainHttps.seen.at(-1)!;
      assert.equal(seen.url, `/${name}/x`);
      assert.equal(seen.sni, "gateway.example.com");
      assert.equal(seen.host, "app.test");
      assert.equal(seen.alpn, "http/1.1"); // the HTTP/1.1 pool's ALPN fallback
      assert.ok(c(name)("ssl.handshake") >= 1);
      assert.ok(c(name)("upstream_cx_http1_total") >= 1);
    }
    // Keep-alive: a second request reuses the TLS connection.
    const before = c("simple")("upstream_cx_total");
    assert.equal((await request(`${PROXY}/simple/again`)).status, 200);
    assert.equal(c("simple")("upstream_cx_total"), before);
  });

  it("no validation context: no verification (Envoy's default), no SNI unless configured", async () => {
    const r = await request(`${PROXY}/noverify/x`);
    assert.equal(r.status, 200, r.body);
    assert.equal(plainHttps.seen.at(-1)!.sni, false);
  });

  it("a wrong CA is a connect failure: 503 UF with the TLS failure reason, ssl.fail_verify_error, upstream_cx_connect_fail", async () => {
    const n = plainHttps.seen.length;
    const r = await request(`${PROXY}/wrongca/x`);
    assert.equal(r.status, 503);
    assert.match(r.body, /^upstream connect error or disconnect\/reset before headers\. reset reason: remote connection failure, transport failure reason: TLS_error:\|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:verify cert failed: X509_verify_cert: certificate verification error at depth 0: unable to verify the first certificate:TLS_error_end$/);
    assert.equal(plainHttps.seen.length, n, "the request never reached the backend");
    assert.equal(c("wrongca")("ssl.fail_verify_error"), 1);
    assert.equal(c("wrongca")("upstream_cx_connect_fail"), 1);
    assert.equal(c("wrongca")("ssl.handshake"), 0);
    // The same over HTTP/2.
    const h2 = await request(`${PROXY}/h2-wrongca/x`);
    assert.equal(h2.status, 503);
    assert.match(h2.body, /remote connection failure, transport failure reason: TLS_error:\|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:.*:TLS_error_end$/);
    assert.equal(c("h2-wrongca")("ssl.fail_verify_error"), 1);
    assert.equal(c("h2-wrongca")("upstream_cx_connect_fail"), 1);
  });

  it("SAN matchers: a wildcard DNS SAN satisfies an exact matcher; a mismatch fails verification (ssl.fail_verify_san)", async () => {
    assert.equal((await request(`${PROXY}/sanok/x`)).status, 200);
    const r = await request(`${PROXY}/sanbad/x`);
    assert.equal(r.status, 503);
    assert.equal(r.body, `${UPSTREAM_RESET}remote connection failure, transport failure reason: TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:verify cert failed: SAN matcher:TLS_error_end`);
    assert.equal(c("sanbad")("ssl.fail_verify_san"), 1);
    assert.equal(c("sanbad")("upstream_cx_connect_fail"), 1);
  });

  it("certificate pins: verify_certificate_hash (with or without a CA) and _spki; no pin matching is ssl.fail_verify_cert_hash", async () => {
    assert.equal((await request(`${PROXY}/pinhash/x`)).status, 200);
    assert.equal((await request(`${PROXY}/pinspki/x`)).status, 200);
    const n = plainHttps.seen.length;
    const r = await request(`${PROXY}/pinbad/x`);
    assert.equal(r.status, 503);
    assert.equal(r.body, `${UPSTREAM_RESET}remote connection failure, transport failure reason: TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:verify cert failed: cert hash and spki:TLS_error_end`);
    assert.equal(plainHttps.seen.length, n, "nothing reached the backend");
    assert.equal(c("pinbad")("ssl.fail_verify_cert_hash"), 1);
    assert.equal(c("pinbad")("upstream_cx_connect_fail"), 1);
    assert.equal(c("pinbad")("ssl.handshake"), 0);
  });

  it("MUTUAL: presents the client certificate to a backend that requires one", async () => {
    const r = await request(`${PROXY}/mtls/x`);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, "mtls-backend");
    assert.equal(mtls.seen.at(-1)!.clientCn, "client.example.com");
  });

  it("without a client certificate the backend refuses: 503, nothing reaches it", async () => {
    const n = mtls.seen.length;
    // TLS 1.3: the client's handshake completes before the server rejects it, so the request is
    // reset on the connection (UC); over TLS 1.2 the handshake itself fails (UF).
    const r13 = await request(`${PROXY}/nocert/x`);
    assert.equal(r13.status, 503);
    assert.match(r13.body, /^upstream connect error or disconnect\/reset before headers\. reset reason: /);
    const r12 = await request(`${PROXY}/nocert12/x`);
    assert.equal(r12.status, 503);
    assert.match(r12.body, /remote connection failure, transport failure reason: TLS_error:\|\d+:SSL routines:OPENSSL_internal:SSLV3_ALERT_HANDSHAKE_FAILURE:TLS_error_end$/);
    assert.equal(c("nocert12")("ssl.connection_error"), 1);
    assert.equal(mtls.seen.length, n);
  });

  it("a CRL revokes the backend's certificate", async () => {
    const r = await request(`${PROXY}/revoked/x`);
    assert.equal(r.status, 503);
    assert.match(r.body, /CERTIFICATE_VERIFY_FAILED:verify cert failed: X509_verify_cert: certificate verification error at depth 0: certificate revoked:TLS_error_end$/);
    assert.equal(revoked.seen.length, 0);
    assert.equal(c("revoked")("ssl.fail_verify_error"), 1);
  });

  it("auto_sni: the SNI is the request's host (no port), connections are pooled per SNI; auto_sni_san_validation checks it", async () => {
    const one = await request(`${PROXY}/auto/a`, { headers: { host: "api.example.com:8443" } });
    assert.equal(one.status, 200, one.body);
    assert.equal(plainHttps.seen.at(-1)!.sni, "api.example.com");
    const two = await request(`${PROXY}/auto/b`, { headers: { host: "www.example.com" } });
    assert.equal(two.status, 200, two.body);
    assert.equal(plainHttps.seen.at(-1)!.sni, "www.example.com");
    assert.equal(c("auto")("upstream_cx_total"), 2, "one connection per SNI");
    const again = await request(`${PROXY}/auto/c`, { headers: { host: "api.example.com" } });
    assert.equal(again.status, 200);
    assert.equal(plainHttps.seen.at(-1)!.sni, "api.example.com");
    assert.equal(c("auto")("upstream_cx_total"), 2, "the api.example.com connection was reused");
    // The certificate (gateway.example.com, *.example.com) does not name evil.test.
    const n = plainHttps.seen.length;
    const bad = await request(`${PROXY}/auto/d`, { headers: { host: "evil.test" } });
    assert.equal(bad.status, 503);
    assert.match(bad.body, /CERTIFICATE_VERIFY_FAILED:verify cert failed: verify SAN list:TLS_error_end$/);
    assert.equal(plainHttps.seen.length, n);
    assert.equal(c("auto")("ssl.fail_verify_san"), 1);
  });

  it("HTTP/2 over TLS: ALPN h2, streams share one session, upstream_cx_http2_total", async () => {
    const rs = await Promise.all([1, 2, 3].map((i) => request(`${PROXY}/h2/${i}`)));
    for (const r of rs) assert.deepEqual([r.status, r.body], [200, "h2-backend"]);
    assert.equal(h2Seen.length, 3);
    for (const s of h2Seen) {
      assert.equal(s.alpn, "h2");
      assert.equal(s.sni, "gateway.example.com");
    }
    assert.equal(c("h2")("upstream_cx_http2_total"), 1);
    assert.equal(c("h2")("upstream_cx_http1_total"), 0);
    assert.equal(c("h2")("ssl.handshake"), 1);
  });

  it("secrets over SDS: 503 UF with the reason, no plaintext sent, logged once", async () => {
    // The cluster logs through the proxy's log when the proxy hands it over, else to stderr.
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      if (String(chunk).includes("not available (SDS")) {
        logs.push(String(chunk));
        return true;
      }
      return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stderr.write;
    try {
      await sdsChecks();
    } finally {
      process.stderr.write = write;
    }
  });

  async function sdsChecks(): Promise<void> {
    for (const name of ["sds", "h2-sds"]) {
      for (let i = 0; i < 2; i++) {
        const r = await request(`${PROXY}/${name}/x`);
        assert.equal(r.status, 503);
        assert.match(r.body, /remote connection failure, transport failure reason: TLS error: Secret is not supplied by SDS/);
      }
      assert.equal(c(name)("upstream_cx_connect_fail"), 2);
    }
    const r = await request(`${PROXY}/sds/x`);
    assert.match(r.body, /"default", "ROOTCA"/);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(plain.connections, 0, "no connection to the plaintext server");
    assert.equal(plain.bytes, 0);
    assert.equal(logs.filter((l) => l.includes("cluster sds:") && l.includes('"default"')).length, 1);
    assert.equal(logs.filter((l) => l.includes("cluster h2-sds:")).length, 1);
  }

  it("request mirroring: the shadow copy goes over TLS (auto_sni takes the -shadow host); an SDS mirror gets nothing", async () => {
    const sdsFails = c("sds")("upstream_cx_connect_fail");
    const r = await request(`${PROXY}/mirror/x`, { method: "POST", headers: { host: "api.example.com" }, body: "copy me" });
    assert.equal(r.status, 200);
    const shadow = await eventually("the shadow request arrived", () => plainHttps.seen.find((s) => s.url === "/mirror/x" && s.host === "api.example.com-shadow"));
    assert.equal(shadow.sni, "api.example.com-shadow");
    assert.equal(c("autosni-only")("ssl.handshake"), 1);
    assert.equal(c("autosni-only")("upstream_cx_http1_total"), 1);
    assert.equal(c("sds")("upstream_cx_connect_fail"), sdsFails + 1);
    assert.equal(plain.connections, 0);
  });

  it("tcp_proxy originates TLS (configured SNI); an SDS cluster closes the downstream without connecting", async () => {
    const echoed = await new Promise<string>((resolve, reject) => {
      const s = net.connect(9443, PROXY_IP, () => s.write("ping"));
      let out = "";
      s.on("data", (d: Buffer) => {
        out += d.toString();
        s.end();
      });
      s.on("close", () => resolve(out));
      s.on("error", reject);
    });
    assert.equal(echoed, "tls:ping");
    assert.deepEqual(tcpSni, ["gateway.example.com"]);
    assert.equal(c("tcptls")("ssl.handshake"), 1);
    assert.equal(c("tcptls")("upstream_cx_total"), 1);
    const closed = await new Promise<string>((resolve) => {
      const s = net.connect(9444, PROXY_IP, () => s.write("secret"));
      let out = "";
      s.on("data", (d: Buffer) => (out += d.toString()));
      s.on("close", () => resolve(out));
      s.on("error", () => resolve(out));
    });
    assert.equal(closed, "");
    assert.equal(plain.connections, 0);
    assert.equal(c("tcpsds")("upstream_cx_connect_fail"), 1);
  });

  it("bad TLS config is a config error naming the field (NACK)", () => {
    const cases: Array<[ProtoObject, RegExp]> = [
      [
        { commonTlsContext: { tlsCertificates: [{ certificateChain: { filename: "/nonexistent/client.crt" }, privateKey: { filename: file("client.key") } }] } },
        /cluster bad: transportSocket\.typedConfig\.commonTlsContext\.tlsCertificates\[0\]\.certificateChain\.filename: cannot read \/nonexistent\/client\.crt/,
      ],
      [{ commonTlsContext: { validationContext: { trustedCa: { inlineString: "not a pem" } } } }, /commonTlsContext\.validationContext\.trustedCa: Failed to load trusted CA certificates/],
      [
        { commonTlsContext: { tlsCertificates: [{ certificateChain: { inlineString: "garbage" }, privateKey: { filename: file("client.key") } }] } },
        /commonTlsContext\.tlsCertificates\[0\]\.certificateChain: Failed to load certificate chain/,
      ],
      [
        { commonTlsContext: { validationContext: { trustedCa: { filename: file("ca.crt") }, matchTypedSubjectAltNames: [{ sanType: "DNS", matcher: { safeRegex: { regex: "(" } } }] } } },
        /validationContext\.matchTypedSubjectAltNames\[0\]\.matcher\.safeRegex\.regex: /,
      ],
      [{ commonTlsContext: { validationContext: { matchTypedSubjectAltNames: [{ sanType: "DNS", matcher: { exact: "a" } }] } } }, /without trusted CA is insecure/],
      [{ commonTlsContext: { validationContext: { crl: { filename: file("client-ca.crl") } } } }, /validationContext\.crl: Failed to load CRL without trusted CA/],
      [{ commonTlsContext: { validationContext: { verifyCertificateHash: ["abcd"] } } }, /validationContext\.verifyCertificateHash\[0\]: Invalid hex-encoded SHA-256 abcd/],
      [{ commonTlsContext: { validationContext: { verifyCertificateSpki: ["not base64!"] } } }, /validationContext\.verifyCertificateSpki\[0\]: Invalid base64-encoded SHA-256/],
      [{ commonTlsContext: trustCa("ca.crt", { allowExpiredCertificate: true }) }, /validationContext\.allowExpiredCertificate: expired certificates cannot be allowed/],
      [{ commonTlsContext: trustCa("ca.crt", { trustChainVerification: "ACCEPT_UNTRUSTED" }) }, /validationContext\.trustChainVerification: only VERIFY_TRUST_CHAIN/],
      [{ commonTlsContext: trustCa("ca.crt", { maxVerifyDepth: { value: 2 } }) }, /validationContext\.maxVerifyDepth: /],
      [{ commonTlsContext: { keyLog: { path: "keys.log" } } }, /commonTlsContext\.keyLog: TLS key logging is not supported/],
      [
        { commonTlsContext: { tlsCertificates: [{ certificateChain: { filename: file("client.crt") }, privateKey: { filename: file("client.key") } }, { certificateChain: { filename: file("client.crt") }, privateKey: { filename: file("client.key") } }] } },
        /commonTlsContext\.tlsCertificates: an upstream connection presents one client certificate/,
      ],
      [
        { commonTlsContext: { tlsCertificates: [{ certificateChain: { filename: file("client.crt") }, privateKey: { filename: file("client.key") }, privateKeyProvider: { providerName: "cryptomb" } }] } },
        /tlsCertificates\[0\]\.privateKeyProvider: private key providers are not supported/,
      ],
      // A version the schema lacks arrives from the decoders as its number.
      [{ commonTlsContext: { tlsParams: { tlsMinimumProtocolVersion: 9 } } }, /tlsParams\.tlsMinimumProtocolVersion: unknown TLS protocol version 9/],
    ];
    for (const [ctx, re] of cases) {
      assert.throws(() => clusterSpec(cluster("bad", HTTPS_IP, 8443, ctx)), (e: unknown) => e instanceof XdsConfigError && re.test(e.message), JSON.stringify(ctx));
    }
    // auto_sni_san_validation with nothing to verify the chain against is refused, as Envoy.
    assert.throws(
      () => clusterSpec(cluster("bad", HTTPS_IP, 8443, { commonTlsContext: {} }, httpOptions({ upstreamHttpProtocolOptions: { autoSni: true, autoSanValidation: true } }))),
      /'auto_sni_san_validation' was configured without configuring a trusted CA/,
    );
    // An unsupported transport socket is refused rather than ignored (it would mean plaintext).
    // (A type no schema tier has never gets past the decoders; the check must not rely on that.)
    assert.throws(() => clusterSpec({ ...cluster("bad", HTTPS_IP, 8443, undefined), transportSocket: { name: "x", typedConfig: foreignAny("type.googleapis.com/x.Y") } }), /Didn't find a registered implementation for 'x' with type URL: 'x.Y'/);
    assert.throws(
      () => clusterSpec({ ...cluster("bad", HTTPS_IP, 8443, undefined), transportSocket: { name: "envoy.transport_sockets.tls", typedConfig: anyOf("envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", {}) } }),
      /cluster bad: transportSocket\.typedConfig: Didn't find a registered implementation for 'envoy.transport_sockets.tls' with type URL: 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext'/,
    );
    // A transport socket named but not typed is refused too, unless it is raw_buffer.
    assert.throws(() => clusterSpec({ ...cluster("bad", HTTPS_IP, 8443, undefined), transportSocket: { name: "envoy.transport_sockets.alts" } }), /envoy.transport_sockets.alts/);
    assert.equal(clusterSpec({ ...cluster("raw", HTTPS_IP, 8443, undefined), transportSocket: { name: "envoy.transport_sockets.raw_buffer" } }).tls, undefined);
    // And through the proxy: start() refuses the static cluster with the same message.
    const bad = new ProxyServer({
      node: { id: "bad-upstream-tls" },
      staticResources: { clusters: [cluster("bad", HTTPS_IP, 8443, cases[0][0])] },
    });
    return assert.rejects(bad.start(), cases[0][1]);
  });
});
