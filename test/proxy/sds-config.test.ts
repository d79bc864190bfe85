// Tables for the SDS config the proxy accepts (an SdsSecretConfig's source, as Istio writes it, and
// nothing else) and for the Secret resources it takes over ADS (adversarial: wrong kinds, files,
// missing parts, key and certificate that do not belong together, garbage PEM). Every refusal names
// its field; none quotes key material.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type * as v3 from "../../src/envoy/types.js";
import { secretFromResource } from "../../src/proxy/tls/secret-resource.js";
import { contextSecretRefs, sdsSecretRef } from "../../src/proxy/tls/sds-config.js";
import { upstreamTlsContext } from "../../src/proxy/tls/upstream.js";
import { downstreamTls } from "../../src/proxy/tls/downstream.js";
import { XdsConfigError } from "../../src/proxy/xds-error.js";
import { SDS_ADS, SDS_GRPC, TestPki } from "./sds-pki.js";
import { pem } from "./upstream/tls-fixtures.js";

const P = "c";
const GRPC = SDS_GRPC as v3.ConfigSource;
const grpcTo = (clusterName: string): v3.ConfigSource => ({ apiConfigSource: { apiType: "GRPC", transportApiVersion: "V3", grpcServices: [{ envoyGrpc: { clusterName } }] } });

describe("SdsSecretConfig sources", () => {
  it("accepts Istio's two shapes: the agent (sds-grpc) and ADS", () => {
    assert.deepEqual(sdsSecretRef({ name: "default", sdsConfig: GRPC }, P), { source: "sds-grpc", name: "default" });
    assert.deepEqual(sdsSecretRef({ name: "kubernetes://cred", sdsConfig: SDS_ADS as v3.ConfigSource }, P), { source: "ads", name: "kubernetes://cred" });
    assert.deepEqual(sdsSecretRef({ name: "ROOTCA", sdsConfig: { apiConfigSource: { apiType: "GRPC", grpcServices: [{ envoyGrpc: { clusterName: "sds-grpc" } }] } } }, P), { source: "sds-grpc", name: "ROOTCA" });
  });

  const refused: Array<{ what: string; c: v3.SdsSecretConfig; field: string; message: RegExp }> = [
    { what: "no name", c: { sdsConfig: GRPC }, field: "c.name", message: /needs a name/ },
    { what: "no sds_config (a bootstrap static secret)", c: { name: "default" }, field: "c.sdsConfig", message: /static bootstrap secrets are not supported/ },
    { what: "another cluster", c: { name: "default", sdsConfig: grpcTo("my-sds") }, field: "c.sdsConfig.apiConfigSource.grpcServices[0].envoyGrpc.clusterName", message: /only by the agent's sds-grpc cluster \(got "my-sds"\)/ },
    { what: "a file path", c: { name: "default", sdsConfig: { path: "/etc/certs/sds.yaml" } }, field: "c.sdsConfig.path", message: /from files are not supported/ },
    { what: "a path config source", c: { name: "default", sdsConfig: { pathConfigSource: { path: "/etc/sds" } } }, field: "c.sdsConfig.pathConfigSource", message: /from files/ },
    { what: "REST", c: { name: "default", sdsConfig: { apiConfigSource: { apiType: "REST", clusterNames: ["sds-grpc"] } } }, field: "c.sdsConfig.apiConfigSource.apiType", message: /only GRPC/ },
    { what: "delta gRPC", c: { name: "default", sdsConfig: { apiConfigSource: { apiType: "DELTA_GRPC", grpcServices: [{ envoyGrpc: { clusterName: "sds-grpc" } }] } } }, field: "c.sdsConfig.apiConfigSource.apiType", message: /only GRPC/ },
    { what: "Google gRPC", c: { name: "default", sdsConfig: { apiConfigSource: { apiType: "GRPC", grpcServices: [{ googleGrpc: { targetUri: "unix:/var/run/sds", statPrefix: "sds" } }] } } }, field: "c.sdsConfig.apiConfigSource.grpcServices[0].googleGrpc", message: /Google gRPC/ },
    { what: "two gRPC services", c: { name: "default", sdsConfig: { apiConfigSource: { apiType: "GRPC", grpcServices: [{ envoyGrpc: { clusterName: "sds-grpc" } }, { envoyGrpc: { clusterName: "sds-grpc" } }] } } }, field: "c.sdsConfig.apiConfigSource.grpcServices", message: /exactly one/ },
    { what: "no gRPC service", c: { name: "default", sdsConfig: { apiConfigSource: { apiType: "GRPC" } } }, field: "c.sdsConfig.apiConfigSource.grpcServices", message: /exactly one/ },
    { what: "V2 resources", c: { name: "default", sdsConfig: { ads: {}, resourceApiVersion: "V2" } }, field: "c.sdsConfig.resourceApiVersion", message: /only V3/ },
    { what: "V2 transport", c: { name: "default", sdsConfig: { apiConfigSource: { apiType: "GRPC", transportApiVersion: "V2", grpcServices: [{ envoyGrpc: { clusterName: "sds-grpc" } }] } } }, field: "c.sdsConfig.apiConfigSource.transportApiVersion", message: /only V3/ },
    { what: "self", c: { name: "default", sdsConfig: { self: {} } }, field: "c.sdsConfig.self", message: /not supported/ },
    { what: "neither ads nor api", c: { name: "default", sdsConfig: { initialFetchTimeout: { seconds: 0 } } }, field: "c.sdsConfig", message: /needs ads or api_config_source/ },
    { what: "both ads and api", c: { name: "default", sdsConfig: { ads: {}, ...grpcTo("sds-grpc") } }, field: "c.sdsConfig.apiConfigSource", message: /either ads or api_config_source/ },
  ];
  for (const t of refused) {
    it(`refuses ${t.what} with its field path`, () => {
      assert.throws(
        () => sdsSecretRef(t.c, P),
        (e: unknown) => e instanceof XdsConfigError && e.path === t.field && t.message.test(e.message),
      );
    });
  }

  it("a context takes one certificate over SDS, not alongside inline ones; the combined validation context's secret is its trust anchor", () => {
    const sds = { name: "default", sdsConfig: GRPC };
    assert.throws(() => contextSecretRefs({ tlsCertificateSdsSecretConfigs: [sds, sds] }, P, 1), (e: unknown) => e instanceof XdsConfigError && e.path === "c.tlsCertificateSdsSecretConfigs" && /one client certificate/.test(e.message));
    assert.throws(() => contextSecretRefs({ tlsCertificateSdsSecretConfigs: [sds, sds, sds] }, P, 2), (e: unknown) => e instanceof XdsConfigError && e.path === "c.tlsCertificateSdsSecretConfigs");
    assert.equal(contextSecretRefs({ tlsCertificateSdsSecretConfigs: [sds, { ...sds, name: "ecdsa" }] }, P, 2).certificates.length, 2);
    assert.throws(() => contextSecretRefs({ tlsCertificateSdsSecretConfigs: [sds], tlsCertificates: [{}] }, P, 1), (e: unknown) => e instanceof XdsConfigError && e.path === "c.tlsCertificates");
    assert.deepEqual(contextSecretRefs({ combinedValidationContext: { defaultValidationContext: {}, validationContextSdsSecretConfig: { name: "ROOTCA", sdsConfig: GRPC } } }, P, 1), { certificates: [], validation: { source: "sds-grpc", name: "ROOTCA" } });
  });

  it("a bad SDS source in an UpstreamTlsContext or DownstreamTlsContext is refused there (NACK), never plaintext", () => {
    const bad = { tlsCertificateSdsSecretConfigs: [{ name: "default", sdsConfig: grpcTo("elsewhere") }] };
    assert.throws(() => upstreamTlsContext({ commonTlsContext: bad }, "u", { autoSni: false, autoSanValidation: false }), (e: unknown) => e instanceof XdsConfigError && e.path.startsWith("u.commonTlsContext.tlsCertificateSdsSecretConfigs[0].sdsConfig"));
    assert.throws(() => downstreamTls({ commonTlsContext: bad }, "d"), (e: unknown) => e instanceof XdsConfigError && e.path.startsWith("d.commonTlsContext.tlsCertificateSdsSecretConfigs[0].sdsConfig"));
    // SAN matchers need a trust anchor: the SDS validation context is one.
    const t = upstreamTlsContext({ commonTlsContext: { combinedValidationContext: { defaultValidationContext: { matchSubjectAltNames: [{ exact: "spiffe://cluster.local/ns/default/sa/x" }] }, validationContextSdsSecretConfig: { name: "ROOTCA", sdsConfig: GRPC } } } }, "u", { autoSni: false, autoSanValidation: false });
    assert.equal(t.kind, "sds");
    // A bad cipher list is refused when the config arrives, not when the secrets do.
    assert.throws(
      () => upstreamTlsContext({ commonTlsContext: { tlsParams: { cipherSuites: ["NOT-A-CIPHER"] }, tlsCertificateSdsSecretConfigs: [{ name: "default", sdsConfig: GRPC }] } }, "u", { autoSni: false, autoSanValidation: false }),
      (e: unknown) => e instanceof XdsConfigError && e.path === "u.commonTlsContext.tlsParams",
    );
  });
});

describe("a listener's certificates over SDS", () => {
  it("takes one per key type (RSA beside ECDSA, Istio's credentialNames) and refuses two of one type", async () => {
    const pki = await TestPki.create();
    try {
      const ec = (await pki.svid("a")).secret;
      const ec2 = (await pki.svid("b")).secret;
      const rsa = { kind: "tlsCertificate" as const, certificateChainPem: pem("server.crt").toString(), privateKeyPem: pem("server.key").toString() };
      const t = downstreamTls({ commonTlsContext: { tlsCertificateSdsSecretConfigs: [{ name: "rsa", sdsConfig: SDS_ADS as v3.ConfigSource }, { name: "ec", sdsConfig: SDS_ADS as v3.ConfigSource }] } }, "d");
      assert.equal(t.kind, "sds");
      if (t.kind !== "sds") return;
      assert.deepEqual(t.secrets, ["rsa", "ec"]);
      const served = t.build({ certificates: [rsa, ec] }, undefined);
      assert.deepEqual(served.certificates.chain.map((c) => c.pem), [rsa.certificateChainPem, ec.certificateChainPem]);
      assert.throws(() => t.build({ certificates: [ec, ec2] }, undefined), /two certificates over SDS have a ec key/);
    } finally {
      pki.close();
    }
  });
});

describe("Secret resources over ADS", () => {
  const crt = pem("server.crt");
  const key = pem("server.key");
  const ok: v3.Secret = { name: "kubernetes://c", tlsCertificate: { certificateChain: { inlineBytes: crt }, privateKey: { inlineBytes: key } } };

  it("takes a certificate with its key, or trusted CAs, inline", () => {
    const s = secretFromResource("kubernetes://c", ok);
    assert.equal(s.kind, "tlsCertificate");
    assert.equal(s.kind === "tlsCertificate" && s.certificateChainPem, crt.toString());
    const v = secretFromResource("kubernetes://c-cacert", { name: "kubernetes://c-cacert", validationContext: { trustedCa: { inlineString: pem("ca.crt").toString() } } });
    assert.deepEqual(v, { kind: "validationContext", trustedCaPem: pem("ca.crt").toString() });
  });

  const tc = (o: Partial<v3.TlsCertificate>): v3.Secret => ({ name: "kubernetes://c", tlsCertificate: { certificateChain: { inlineBytes: crt }, privateKey: { inlineBytes: key }, ...o } });
  const refused: Array<{ what: string; s: v3.Secret; field: string; message: RegExp }> = [
    { what: "another name", s: { ...ok, name: "kubernetes://other" }, field: "Secret kubernetes://c: name", message: /Unexpected SDS secret/ },
    { what: "a key that is not the certificate's", s: tc({ privateKey: { inlineBytes: pem("client.key") } }), field: "Secret kubernetes://c: tlsCertificate.privateKey", message: /does not match the leaf certificate/ },
    { what: "an encrypted key", s: tc({ privateKey: { inlineBytes: pem("server-encrypted.key") } }), field: "Secret kubernetes://c: tlsCertificate.privateKey", message: /not a readable unencrypted PEM private key/ },
    { what: "garbage as the key", s: tc({ privateKey: { inlineString: "-----BEGIN PRIVATE KEY-----\nQUFBQQ==\n-----END PRIVATE KEY-----\n" } }), field: "Secret kubernetes://c: tlsCertificate.privateKey", message: /not a readable/ },
    { what: "no key", s: { name: "kubernetes://c", tlsCertificate: { certificateChain: { inlineBytes: crt } } }, field: "Secret kubernetes://c: tlsCertificate.privateKey", message: /is required/ },
    { what: "no certificate", s: { name: "kubernetes://c", tlsCertificate: { privateKey: { inlineBytes: key } } }, field: "Secret kubernetes://c: tlsCertificate.certificateChain", message: /is required/ },
    { what: "a chain without PEM certificates", s: tc({ certificateChain: { inlineString: "hello" } }), field: "Secret kubernetes://c: tlsCertificate.certificateChain", message: /no PEM certificate/ },
    { what: "a certificate that does not parse", s: tc({ certificateChain: { inlineString: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" } }), field: "Secret kubernetes://c: tlsCertificate.certificateChain", message: /certificate 0/ },
    { what: "a file", s: tc({ privateKey: { filename: "/etc/shadow" } }), field: "Secret kubernetes://c: tlsCertificate.privateKey.filename", message: /inline/ },
    { what: "an environment variable", s: tc({ certificateChain: { environmentVariable: "HOME" } }), field: "Secret kubernetes://c: tlsCertificate.certificateChain.environmentVariable", message: /inline/ },
    { what: "a password", s: tc({ password: { inlineString: "x" } }), field: "Secret kubernetes://c: tlsCertificate.password", message: /not supported/ },
    { what: "PKCS#12", s: tc({ pkcs12: { inlineBytes: Buffer.from("x") } }), field: "Secret kubernetes://c: tlsCertificate.pkcs12", message: /not supported/ },
    { what: "both kinds", s: { ...ok, validationContext: { trustedCa: { inlineBytes: crt } } }, field: "Secret kubernetes://c: validationContext", message: /one of/ },
    { what: "SAN matchers in a validation secret", s: { name: "kubernetes://c", validationContext: { trustedCa: { inlineBytes: crt }, matchSubjectAltNames: [{ exact: "x" }] } }, field: "Secret kubernetes://c: validationContext.matchSubjectAltNames", message: /only trusted_ca/ },
    { what: "trusted CAs that are not certificates", s: { name: "kubernetes://c", validationContext: { trustedCa: { inlineString: "nope" } } }, field: "Secret kubernetes://c: validationContext.trustedCa", message: /no PEM certificate/ },
    { what: "session ticket keys", s: { name: "kubernetes://c", sessionTicketKeys: { keys: [{ inlineBytes: Buffer.alloc(80) }] } }, field: "Secret kubernetes://c: sessionTicketKeys", message: /not supported/ },
    { what: "a generic secret", s: { name: "kubernetes://c", genericSecret: { secret: { inlineString: "x" } } }, field: "Secret kubernetes://c: genericSecret", message: /not supported/ },
    { what: "nothing", s: { name: "kubernetes://c" }, field: "Secret kubernetes://c", message: /needs tls_certificate or validation_context/ },
  ];
  for (const t of refused) {
    it(`refuses ${t.what} with its field path, quoting no key material`, () => {
      assert.throws(
        () => secretFromResource("kubernetes://c", t.s),
        (e: unknown) => {
          if (!(e instanceof XdsConfigError) || e.path !== t.field || !t.message.test(e.message)) return false;
          for (const f of ["server.key", "client.key"]) for (const line of pem(f).toString().split("\n")) if (line.length > 20 && !line.startsWith("-----")) assert.ok(!e.message.includes(line));
          return true;
        },
      );
    });
  }
});
