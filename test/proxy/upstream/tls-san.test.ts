// Subject Alt Name matching as Envoy's DefaultCertValidator does it: a table of SAN matchers against
// certificates' SANs, DNS wildcard rules, bad matchers with their field path, TLS errors mapped to
// Envoy's failure reasons, auto_sni options; and a DownstreamTlsContext's client certificate SAN
// matchers end to end (real mTLS listeners on 127.0.68.57, backend on 127.0.68.58).
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as http from "node:http";
import * as https from "node:https";
import { after, before, describe, it } from "node:test";
import { type ProtoObject } from "../../../src/envoy/protos.js";
import type * as v3 from "../../../src/envoy/types.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { certificateSans, compileSanMatchers, dnsNameMatch, sansMatch, tlsFailureReason } from "../../../src/proxy/tls/common.js";
import { upstreamTlsFromCluster } from "../../../src/proxy/tls/upstream.js";
import { eventually } from "../../helpers/eventually.js";
import { cluster, file, httpOptions, HTTPS_IP, pem } from "./tls-fixtures.js";

describe("SAN matchers (Envoy's DefaultCertValidator)", () => {
  const clientSans = new X509Certificate(pem("client.crt")).subjectAltName ?? "";

  it("parses node's subjectaltname text", () => {
    assert.deepEqual(certificateSans(clientSans), [
      { type: "DNS", value: "client.example.com" },
      { type: "URI", value: "spiffe://cluster.local/ns/default/sa/client" },
      { type: "EMAIL", value: "client@example.com" },
      { type: "IP_ADDRESS", value: "127.0.68.99" },
    ]);
    assert.deepEqual(certificateSans('DNS:"a, b.example.com", IP Address:0:0:0:0:0:0:0:1, DirName:CN=x'), [
      { type: "DNS", value: "a, b.example.com" },
      { type: "IP_ADDRESS", value: "::1" },
      { type: "OTHER", value: "CN=x" },
    ]);
    assert.deepEqual(certificateSans(undefined), []);
  });

  const table: Array<{ name: string; sans: string; vc: ProtoObject; want: boolean }> = [
    { name: "DNS exact", sans: clientSans, vc: { matchTypedSubjectAltNames: [{ sanType: "DNS", matcher: { exact: "client.example.com" } }] }, want: true },
    { name: "DNS exact is case-insensitive", sans: clientSans, vc: { matchTypedSubjectAltNames: [{ sanType: "DNS", matcher: { exact: "CLIENT.example.com" } }] }, want: true },
    { name: "DNS wildcard SAN, one label", sans: "DNS:*.example.com", vc: { matchTypedSubjectAltNames: [{ sanType: "DNS", matcher: { exact: "api.example.com" } }] }, want: true },
    { name: "DNS wildcard SAN, two labels", sans: "DNS:*.example.com", vc: { matchTypedSubjectAltNames: [{ sanType: "DNS", matcher: { exact: "a.b.example.com" } }] }, want: false },
    { name: "DNS wildcard SAN, apex", sans: "DNS:*.example.com", vc: { matchTypedSubjectAltNames: [{ sanType: "DNS", matcher: { exact: "example.com" } }] }, want: false },
    { name: "DNS suffix", sans: clientSans, vc: { matchTypedSubjectAltNames: [{ sanType: "DNS", matcher: { suffix: ".example.com" } }] }, want: true },
    { name: "DNS matcher ignores URI SANs", sans: clientSans, vc: { matchTypedSubjectAltNames: [{ sanType: "DNS", matcher: { exact: "spiffe://cluster.local/ns/default/sa/client" } }] }, want: false },
    { name: "URI exact", sans: clientSans, vc: { matchTypedSubjectAltNames: [{ sanType: "URI", matcher: { exact: "spiffe://cluster.local/ns/default/sa/client" } }] }, want: true },
    { name: "URI exact, other identity", sans: clientSans, vc: { matchTypedSubjectAltNames: [{ sanType: "URI", matcher: { exact: "spiffe://cluster.local/ns/default/sa/other" } }] }, want: false },
    { name: "URI prefix", sans: clientSans, vc: { matchTypedSubjectAltNames: [{ sanType: "URI", matcher: { prefix: "spiffe://cluster.local/" } }] }, want: true },
    { name: "URI contains, ignore_case", sans: clientSans, vc: { matchTypedSubjectAltNames: [{ sanType: "URI", matcher: { contains: "CLUSTER.LOCAL/NS", ignoreCase: true } }] }, want: true },
    { name: "URI contains, case-sensitive", sans: clientSans, vc: { matchTypedSubjectAltNames: [{ sanType: "URI", matcher: { contains: "CLUSTER.LOCAL/NS" } }] }, want: false },
    { name: "URI safe_regex (full match)", sans: clientSans, vc: { matchTypedSubjectAltNames: [{ sanType: "URI", matcher: { safeRegex: { regex: "spiffe://cluster\\.local/ns/[^/]+/sa/client" } } }] }, want: true },
    { name: "URI safe_regex partial does not match", sans: clientSans, vc: { matchTypedSubjectAltNames: [{ sanType: "URI", matcher: { safeRegex: { regex: "spiffe://cluster\\.local" } } }] }, want: false },
    { name: "EMAIL suffix", sans: clientSans, vc: { matchTypedSubjectAltNames: [{ sanType: "EMAIL", matcher: { suffix: "@example.com" } }] }, want: true },
    { name: "IP_ADDRESS exact", sans: clientSans, vc: { matchTypedSubjectAltNames: [{ sanType: "IP_ADDRESS", matcher: { exact: "127.0.68.99" } }] }, want: true },
    { name: "IP_ADDRESS IPv6 canonical form", sans: "IP Address:0:0:0:0:0:0:0:1", vc: { matchTypedSubjectAltNames: [{ sanType: "IP_ADDRESS", matcher: { exact: "::1" } }] }, want: true },
    { name: "any matcher may match", sans: clientSans, vc: { matchTypedSubjectAltNames: [{ sanType: "DNS", matcher: { exact: "nope" } }, { sanType: "EMAIL", matcher: { exact: "client@example.com" } }] }, want: true },
    { name: "legacy untyped matcher reads every kind", sans: clientSans, vc: { matchSubjectAltNames: [{ exact: "client@example.com" }] }, want: true },
    { name: "legacy untyped DNS exact follows wildcard rules", sans: "DNS:*.example.com", vc: { matchSubjectAltNames: [{ exact: "x.example.com" }] }, want: true },
    { name: "no SANs", sans: "", vc: { matchTypedSubjectAltNames: [{ sanType: "DNS", matcher: { prefix: "a" } }] }, want: false },
  ];
  for (const t of table) {
    it(t.name, () => {
      const m = compileSanMatchers(t.vc, "vc");
      assert.equal(sansMatch(m, certificateSans(t.sans)), t.want);
    });
  }

  it("dnsNameMatch", () => {
    const cases: Array<[string, string, boolean]> = [
      ["a.example.com", "a.example.com", true],
      ["A.Example.com", "a.example.COM", true],
      ["a.example.com", "*.example.com", true],
      ["a.b.example.com", "*.example.com", false],
      ["example.com", "*.example.com", false],
      [".example.com", "*.example.com", false],
      ["a.example.org", "*.example.com", false],
    ];
    for (const [name, pattern, want] of cases) assert.equal(dnsNameMatch(name, pattern), want, `${name} vs ${pattern}`);
  });

  it("rejects bad matchers with their field path", () => {
    assert.throws(() => compileSanMatchers({ matchTypedSubjectAltNames: [{ sanType: "DNS", matcher: { safeRegex: { regex: "[" } } }] }, "vc"), /^XdsConfigError: vc\.matchTypedSubjectAltNames\[0\]\.matcher\.safeRegex\.regex/);
    assert.throws(() => compileSanMatchers({ matchTypedSubjectAltNames: [{ matcher: { exact: "a" } }] }, "vc"), /vc\.matchTypedSubjectAltNames\[0\]\.sanType: san_type must be one of/);
    assert.throws(() => compileSanMatchers({ matchTypedSubjectAltNames: [{ sanType: "URI" }] }, "vc"), /matcher: a SAN matcher needs a StringMatcher/);
  });

  it("maps TLS errors to Envoy's transport failure reasons", () => {
    const err = (code: string, message: string) => Object.assign(new Error(message), { code });
    assert.equal(
      tlsFailureReason(err("UNABLE_TO_VERIFY_LEAF_SIGNATURE", "unable to verify the first certificate"), undefined),
      "TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:verify cert failed: X509_verify_cert: certificate verification error at depth 0: unable to verify the first certificate:TLS_error_end",
    );
    assert.equal(
      tlsFailureReason(err("ERR_SSL_WRONG_VERSION_NUMBER", "C0:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../ssl/record/ssl3_record.c:354:"), undefined),
      "TLS_error:|268435703:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER:TLS_error_end",
    );
    assert.equal(
      tlsFailureReason(err("ERR_SSL_TLSV1_ALERT_UNKNOWN_CA", "C0:error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:x.c:1:SSL alert number 48"), undefined),
      "TLS_error:|268436504:SSL routines:OPENSSL_internal:TLSV1_ALERT_UNKNOWN_CA:TLS_error_end",
    );
    assert.equal(tlsFailureReason(err("ECONNRESET", "socket hang up"), undefined), "TLS_error:|33554536:system library:OPENSSL_internal:Connection reset by peer:TLS_error_end");
  });

  it("reads autoSni / autoSanValidation from the HTTP protocol options", () => {
    const t = upstreamTlsFromCluster(cluster("x", HTTPS_IP, 1, { commonTlsContext: {} }, httpOptions({ upstreamHttpProtocolOptions: { autoSni: true } })), (f) => f);
    assert.ok(t && t.kind === "tls");
    assert.equal(t.autoSni, true);
    assert.equal(t.autoSanValidation, false);
    assert.equal(t.verify, false);
    const sys = upstreamTlsFromCluster(cluster("x", HTTPS_IP, 1, { commonTlsContext: { validationContext: { systemRootCerts: {} } } }), (f) => f);
    assert.ok(sys && sys.kind === "tls" && sys.verify, "system_root_certs verifies against node's roots");
    assert.equal(upstreamTlsFromCluster(cluster("x", HTTPS_IP, 1, undefined), (f) => f), undefined);
  });
});

describe("DownstreamTlsContext: client certificate SAN matchers", () => {
  let proxy: ProxyServer;
  let backend: http.Server;

  const downstreamTls = (uri: string): v3.TransportSocket => ({
    name: "envoy.transport_sockets.tls",
    typedConfig: {
      "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
      requireClientCertificate: { value: true },
      commonTlsContext: {
        tlsCertificates: [{ certificateChain: { filename: file("server.crt") }, privateKey: { filename: file("server.key") } }],
        validationContext: { trustedCa: { filename: file("client-ca.crt") }, matchTypedSubjectAltNames: [{ sanType: "URI", matcher: { exact: uri } }] },
      },
    },
  });

  before(async () => {
    backend = http.createServer((_req, res) => res.end("behind-mtls"));
    await new Promise<void>((r) => backend.listen(8080, "127.0.68.58", () => r()));
    const chain = (port: number, uri: string): v3.Listener => ({
      name: `mtls-${port}`,
      address: { socketAddress: { address: "127.0.68.57", portValue: port } },
      filterChains: [{ filters: [hcmTo("app")], transportSocket: downstreamTls(uri) }],
    });
    proxy = new ProxyServer({
      node: { id: "downstream-san" },
      staticResources: {
        clusters: [cluster("app", "127.0.68.58", 8080, undefined)],
        listeners: [chain(8443, "spiffe://cluster.local/ns/default/sa/client"), chain(8444, "spiffe://cluster.local/ns/default/sa/someone-else")],
      },
    });
    await proxy.start();
  });

  after(async () => {
    await proxy.close();
    backend.closeAllConnections();
    await new Promise<void>((r) => backend.close(() => r()));
  });

  function get(port: number): Promise<{ status: number; body: string } | Error> {
    return new Promise((resolve) => {
      const req = https.request({ host: "127.0.68.57", port, path: "/", servername: "gateway.example.com", ca: pem("ca.crt"), cert: pem("client.crt"), key: pem("client.key"), agent: false }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", resolve);
      req.end();
    });
  }

  it("accepts a client certificate whose SAN matches, refuses one that does not (ssl.fail_verify_san)", async () => {
    const ok = await get(8443);
    assert.ok(!(ok instanceof Error), String(ok));
    assert.deepEqual(ok, { status: 200, body: "behind-mtls" });
    const refused = await get(8444);
    assert.ok(refused instanceof Error, "the connection is closed");
    await eventually("ssl.fail_verify_san counted", () => proxy.stats.counter("listener.127.0.68.57_8444.ssl.fail_verify_san").value === 1);
    assert.equal(proxy.stats.counter("listener.127.0.68.57_8443.ssl.fail_verify_san").value, 0);
  });

  it("SAN matchers without a trusted CA are refused", () => {
    const bad = new ProxyServer({
      node: { id: "bad-downstream-san" },
      staticResources: {
        listeners: [
          {
            name: "bad",
            address: { socketAddress: { address: "127.0.68.57", portValue: 8445 } },
            filterChains: [
              {
                filters: [hcmTo("app")],
                transportSocket: {
                  name: "envoy.transport_sockets.tls",
                  typedConfig: {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                    commonTlsContext: {
                      tlsCertificates: [{ certificateChain: { filename: file("server.crt") }, privateKey: { filename: file("server.key") } }],
                      validationContext: { matchTypedSubjectAltNames: [{ sanType: "URI", matcher: { exact: "x" } }] },
                    },
                  },
                },
              },
            ],
          },
        ],
      },
    });
    return assert.rejects(bad.start(), /filterChains\[0\]\.transportSocket\.commonTlsContext\.validationContext: SAN-based verification/);
  });
});

function hcmTo(cluster: string): v3.NetworkFilter {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typedConfig: {
      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
      statPrefix: "mtls",
      routeConfig: { name: "r", virtualHosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster } }] }] },
      httpFilters: [{ name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
    },
  };
}
