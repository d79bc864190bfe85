// TLS termination (a filter chain's DownstreamTlsContext) against real TLS clients on 127.0.83.x:
// client certificates (required, optional, from the wrong CA, revoked by a CRL, SAN matchers),
// require_sni, tls_params (protocol versions, cipher suites) and the configurations that are
// refused because they could not be enforced.
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import * as net from "node:net";
import { join } from "node:path";
import * as tls from "node:tls";
import { after, describe, it } from "node:test";
import { packageRoot } from "../../src/core/paths.js";
import type * as v3 from "../../src/envoy/types.js";
import { StatsStore } from "../../src/proxy/stats.js";
import { downstreamTls, terminateTls } from "../../src/proxy/tls/downstream.js";
import { XdsConfigError } from "../../src/proxy/xds-error.js";

const FIX = join(packageRoot(), "test", "fixtures", "tls");
const file = (n: string) => join(FIX, n);
const pem = (n: string) => readFileSync(file(n));
const IP = "127.0.83.1";

const SERVER_CERT: v3.TlsCertificate = { certificateChain: { filename: file("server.crt") }, privateKey: { filename: file("server.key") } };

function context(c: { common?: v3.CommonTlsContext; require?: boolean; sni?: boolean }): v3.DownstreamTlsContext {
  return {
    commonTlsContext: { tlsCertificates: [SERVER_CERT], ...c.common },
    ...(c.require !== undefined ? { requireClientCertificate: { value: c.require } } : {}),
    ...(c.sni !== undefined ? { requireSni: { value: c.sni } } : {}),
  };
}

/** A listener that terminates TLS with `ctx` and answers "ok <peer CN>" on each connection. */
async function terminator(ctx: v3.DownstreamTlsContext, port: number): Promise<{ server: net.Server; stats: StatsStore }> {
  const spec = downstreamTls(ctx, "listener.filterChains[0].transportSocket");
  assert.equal(spec.kind, "tls");
  if (spec.kind !== "tls") throw new Error("unreachable");
  const stats = new StatsStore();
  const scope = stats.tagged("listener.", `${IP}_${port}`);
  const server = net.createServer((socket) => {
    terminateTls(socket, spec, scope, (secure) => {
      const cn = secure.getPeerCertificate()?.subject?.CN ?? "-";
      secure.end(`ok ${cn}\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, IP, resolve));
  servers.push(server);
  return { server, stats };
}

const servers: net.Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

/** Connects and reads to the end: the server's answer, or the error that ended the connection. */
function connect(port: number, opts: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: IP, port, ca: pem("ca.crt"), checkServerIdentity: () => undefined, ...opts });
    let got = "";
    s.setEncoding("utf8");
    s.on("data", (d: string) => (got += d));
    s.on("end", () => resolve(got.trim() || "closed"));
    s.on("error", (e) => resolve(got.trim() || `error ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    s.on("close", () => resolve(got.trim() || "closed"));
  });
}

const CLIENT = { cert: pem("client.crt"), key: pem("client.key") };
const GOOD = { cert: pem("crl-good.crt"), key: pem("crl-good.key") };
const REVOKED = { cert: pem("crl-revoked.crt"), key: pem("crl-revoked.key") };
const trust = (ca: string, extra: v3.CertificateValidationContext = {}): v3.CommonTlsContext => ({ validationContext: { trustedCa: { filename: file(ca) }, ...extra } });
const counter = (s: StatsStore, port: number, name: string) => s.counter(`listener.${IP}_${port}.ssl.${name}`).value;

describe("downstream TLS: client certificates", () => {
  it("required: a certificate from the trusted CA gets through, none or one from another CA is refused", async () => {
    const port = 8001;
    const { stats } = await terminator(context({ common: trust("client-ca.crt"), require: true }), port);
    assert.equal(await connect(port, { servername: "gateway.example.com", ...CLIENT }), "ok client.example.com");
    assert.doesNotMatch(await connect(port, { servername: "gateway.example.com" }), /^ok/);
    assert.equal(counter(stats, port, "handshake"), 1);
  });

  it("optional (trusted CA, not required): none is accepted, one that does not verify is refused", async () => {
    const port = 8002;
    const { stats } = await terminator(context({ common: trust("ca.crt") }), port);
    assert.equal(await connect(port, { servername: "gateway.example.com" }), "ok -");
    assert.equal(counter(stats, port, "no_certificate"), 1);
    // client.crt is signed by client-ca.crt, not ca.crt: presented, it must verify.
    assert.doesNotMatch(await connect(port, { servername: "gateway.example.com", ...CLIENT }), /^ok/);
    assert.equal(counter(stats, port, "fail_verify_error"), 1);
    assert.equal(counter(stats, port, "handshake"), 1);
  });

  it("combined_validation_context's default context is the trusted CA", async () => {
    const port = 8003;
    const common: v3.CommonTlsContext = { combinedValidationContext: { defaultValidationContext: { trustedCa: { filename: file("client-ca.crt") } } } };
    await terminator(context({ common, require: true }), port);
    assert.equal(await connect(port, { servername: "gateway.example.com", ...CLIENT }), "ok client.example.com");
    assert.doesNotMatch(await connect(port, { servername: "gateway.example.com" }), /^ok/);
  });

  it("a CRL refuses the certificates it revokes", async () => {
    const withCrl = 8004;
    const without = 8005;
    await terminator(context({ common: trust("crl-ca.crt", { crl: { filename: file("crl-ca.crl") } }), require: true }), withCrl);
    await terminator(context({ common: trust("crl-ca.crt"), require: true }), without);
    assert.equal(await connect(withCrl, { servername: "gateway.example.com", ...GOOD }), "ok good.crl.example.com");
    assert.doesNotMatch(await connect(withCrl, { servername: "gateway.example.com", ...REVOKED }), /^ok/);
    // The same certificate without the CRL: what refused it was the revocation.
    assert.equal(await connect(without, { servername: "gateway.example.com", ...REVOKED }), "ok revoked.crl.example.com");
  });

  it("SAN matchers: a verified certificate must also carry a matching SAN", async () => {
    const ok = 8006;
    const bad = 8007;
    const san = (exact: string): v3.CertificateValidationContext => ({ matchTypedSubjectAltNames: [{ sanType: "URI", matcher: { exact } }] });
    await terminator(context({ common: trust("client-ca.crt", san("spiffe://cluster.local/ns/default/sa/client")), require: true }), ok);
    const { stats } = await terminator(context({ common: trust("client-ca.crt", san("spiffe://cluster.local/ns/default/sa/other")), require: true }), bad);
    assert.equal(await connect(ok, { servername: "gateway.example.com", ...CLIENT }), "ok client.example.com");
    assert.doesNotMatch(await connect(bad, { servername: "gateway.example.com", ...CLIENT }), /^ok/);
    assert.equal(counter(stats, bad, "fail_verify_san"), 1);
  });
});

describe("downstream TLS: certificate pins", () => {
  const der = new X509Certificate(pem("client.crt")).raw;
  const hash = createHash("sha256").update(der).digest("hex");
  const spki = createHash("sha256").update(new X509Certificate(pem("client.crt")).publicKey.export({ type: "spki", format: "der" })).digest("base64");

  it("a pin alone (no CA): the pinned certificate gets through, another or none is refused", async () => {
    const port = 8020;
    const { stats } = await terminator(context({ common: { validationContext: { verifyCertificateHash: [hash] } } }), port);
    assert.equal(await connect(port, { servername: "gateway.example.com", ...CLIENT }), "ok client.example.com");
    assert.doesNotMatch(await connect(port, { servername: "gateway.example.com", ...GOOD }), /^ok/);
    assert.equal(counter(stats, port, "fail_verify_cert_hash"), 1);
    assert.doesNotMatch(await connect(port, { servername: "gateway.example.com" }), /^ok/);
    assert.equal(counter(stats, port, "fail_verify_no_cert"), 1);
  });

  it("with a CA: the certificate must verify and match a hash or an SPKI pin", async () => {
    const port = 8021;
    const { stats } = await terminator(context({ common: trust("client-ca.crt", { verifyCertificateSpki: [spki], verifyCertificateHash: ["00".repeat(32)] }) }), port);
    assert.equal(await connect(port, { servername: "gateway.example.com", ...CLIENT }), "ok client.example.com");
    // crl-good.crt is from another CA: refused by the chain check before the pins.
    assert.doesNotMatch(await connect(port, { servername: "gateway.example.com", ...GOOD }), /^ok/);
    assert.equal(counter(stats, port, "fail_verify_error"), 1);
  });

  it("SAN matchers make a client certificate mandatory (Envoy's SSL_VERIFY_FAIL_IF_NO_PEER_CERT)", async () => {
    const port = 8022;
    const san: v3.CertificateValidationContext = { matchTypedSubjectAltNames: [{ sanType: "DNS", matcher: { exact: "client.example.com" } }] };
    const { stats } = await terminator(context({ common: trust("client-ca.crt", san) }), port);
    assert.equal(await connect(port, { servername: "gateway.example.com", ...CLIENT }), "ok client.example.com");
    assert.doesNotMatch(await connect(port, { servername: "gateway.example.com" }), /^ok/);
    assert.equal(counter(stats, port, "fail_verify_no_cert"), 1);
  });
});

describe("downstream TLS: require_sni and tls_params", () => {
  it("require_sni refuses a ClientHello without a server name", async () => {
    const port = 8010;
    const { stats } = await terminator(context({ sni: true }), port);
    assert.equal(await connect(port, { servername: "gateway.example.com" }), "ok -");
    // Connecting by IP address without servername sends no SNI.
    assert.doesNotMatch(await connect(port, {}), /^ok/);
    assert.equal(counter(stats, port, "handshake"), 1);
  });

  it("an encrypted private key with its password", async () => {
    const port = 8013;
    const cert: v3.TlsCertificate = { certificateChain: { filename: file("server.crt") }, privateKey: { filename: file("server-encrypted.key") }, password: { inlineString: "tsmesh-test" } };
    await terminator({ commonTlsContext: { tlsCertificates: [cert] } }, port);
    assert.equal(await connect(port, { servername: "gateway.example.com" }), "ok -");
    assert.throws(() => downstreamTls({ commonTlsContext: { tlsCertificates: [{ ...cert, password: { inlineString: "wrong" } }] } }, "l"), (e: unknown) => e instanceof XdsConfigError && e.path === "l.commonTlsContext.tlsCertificates");
  });

  it("tls_minimum_protocol_version refuses older clients; cipher_suites limit the ciphers", async () => {
    const v13 = 8011;
    const ciphers = 8012;
    await terminator(context({ common: { tlsParams: { tlsMinimumProtocolVersion: "TLSv1_3" } } }), v13);
    assert.equal(await connect(v13, { servername: "gateway.example.com" }), "ok -");
    assert.doesNotMatch(await connect(v13, { servername: "gateway.example.com", maxVersion: "TLSv1.2" }), /^ok/);
    await terminator(context({ common: { tlsParams: { tlsMaximumProtocolVersion: "TLSv1_2", cipherSuites: ["ECDHE-RSA-AES128-GCM-SHA256"] } } }), ciphers);
    assert.equal(await connect(ciphers, { servername: "gateway.example.com", ciphers: "ECDHE-RSA-AES128-GCM-SHA256" }), "ok -");
    assert.doesNotMatch(await connect(ciphers, { servername: "gateway.example.com", ciphers: "ECDHE-RSA-AES256-GCM-SHA384" }), /^ok/);
  });
});

describe("downstream TLS: configuration that cannot be enforced is refused", () => {
  const P = "listener.filterChains[0].transportSocket";
  const refused: Array<{ name: string; ctx: v3.DownstreamTlsContext; field: string; message: RegExp }> = [
    { name: "client certificate required without a trusted CA", ctx: context({ require: true }), field: `${P}.requireClientCertificate`, message: /without a trusted CA/ },
    {
      name: "SAN matchers without a trusted CA",
      ctx: context({ common: { validationContext: { matchTypedSubjectAltNames: [{ sanType: "DNS", matcher: { exact: "a" } }] } } }),
      field: `${P}.commonTlsContext.validationContext`,
      message: /without trusted CA/,
    },
    {
      name: "trust_chain_verification ACCEPT_UNTRUSTED",
      ctx: context({ common: trust("client-ca.crt", { trustChainVerification: "ACCEPT_UNTRUSTED" }) }),
      field: `${P}.commonTlsContext.validationContext.trustChainVerification`,
      message: /only VERIFY_TRUST_CHAIN/,
    },
    { name: "an unknown cipher suite", ctx: context({ common: { tlsParams: { cipherSuites: ["NOT-A-CIPHER"] } } }), field: `${P}.commonTlsContext.tlsParams`, message: /cipher/i },
    { name: "a malformed pin", ctx: context({ common: { validationContext: { verifyCertificateHash: ["zz"] } } }), field: `${P}.commonTlsContext.validationContext.verifyCertificateHash[0]`, message: /Invalid hex-encoded SHA-256/ },
    { name: "allow_expired_certificate", ctx: context({ common: trust("client-ca.crt", { allowExpiredCertificate: true }) }), field: `${P}.commonTlsContext.validationContext.allowExpiredCertificate`, message: /cannot be allowed/ },
    { name: "a CRL without a trusted CA", ctx: context({ common: { validationContext: { crl: { filename: file("crl-ca.crl") } } } }), field: `${P}.commonTlsContext.validationContext.crl`, message: /without trusted CA/ },
    { name: "session ticket keys", ctx: { ...context({}), sessionTicketKeys: { keys: [{ inlineString: "x" }] } }, field: `${P}.sessionTicketKeys`, message: /not supported/ },
    {
      name: "two certificates of one key type (Envoy would choose by SNI)",
      ctx: { commonTlsContext: { tlsCertificates: [SERVER_CERT, SERVER_CERT] } },
      field: `${P}.commonTlsContext.tlsCertificates[1]`,
      message: /already has a rsa key/,
    },
    { name: "no certificate at all", ctx: { commonTlsContext: {} }, field: `${P}.commonTlsContext`, message: /needs tls_certificates/ },
    { name: "an unreadable trusted CA", ctx: context({ common: trust("missing.crt") }), field: `${P}.commonTlsContext.validationContext.trustedCa.filename`, message: /cannot read/ },
  ];
  for (const t of refused) {
    it(t.name, () => {
      assert.throws(
        () => downstreamTls(t.ctx, P),
        (e: unknown) => e instanceof XdsConfigError && e.path === t.field && t.message.test(e.message),
      );
    });
  }

  it("secrets over SDS (certificate or validation context) compile to a context that waits for them, never plaintext or unverified", () => {
    const sds: v3.SdsSecretConfig = { name: "default", sdsConfig: { ads: {} } };
    const kinds = [
      downstreamTls({ commonTlsContext: { tlsCertificateSdsSecretConfigs: [sds] } }, P),
      downstreamTls(context({ common: { validationContextSdsSecretConfig: sds } }), P),
      downstreamTls(context({ common: { combinedValidationContext: { defaultValidationContext: {}, validationContextSdsSecretConfig: sds } } }), P),
    ].map((t) => (t.kind === "sds" ? t.secrets : t.kind));
    assert.deepEqual(kinds, [["default"], ["default"], ["default"]]);
  });
});
