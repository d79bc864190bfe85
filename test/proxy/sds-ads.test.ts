// Secrets over ADS (a gateway's credentialName, `kubernetes://NAME`): the proxy subscribes to the
// Secrets its listeners and clusters name (and drops them with the config that named them), serves
// TLS once they arrive, NACKs a bad Secret with its name and field while the last good one keeps
// serving, takes a rotated certificate for new handshakes; /certs shows the contexts in Envoy's
// format and /config_dump the secrets without their private keys. A small in-test ADS server (the
// xDS server tests' fake generator on tsmesh's AdsServer) feeds the resources. Addresses
// 127.0.134.1-3.
import assert from "node:assert/strict";
import { X509Certificate as X509 } from "node:crypto";
import { after, before, describe, it } from "node:test";
import * as tls from "node:tls";
import { CLUSTER_TYPE, LISTENER_TYPE, type ProtoObject, SECRET_TYPE } from "../../src/envoy/protos.js";
import { AdminServer } from "../../src/proxy/admin.js";
import { ProxyServer } from "../../src/proxy/proxy.js";
import { eventually } from "../helpers/eventually.js";
import { fullPush, Harness, type Snapshot } from "../xds/server/helpers.js";
import { Backend, request } from "./helpers.js";
import { httpListener, SDS_ADS, serialHex, staticCluster } from "./sds-pki.js";
import { HttpsBackend, pem } from "./upstream/tls-fixtures.js";

const GW = "127.0.134.1";
const PLAIN_BACKEND = "127.0.134.2";
const HTTPS_BACKEND = "127.0.134.3"; // gateway.example.com, signed by ca.crt

const certSecret = (name: string, crt: string, key: string): ProtoObject => ({ name, tlsCertificate: { certificateChain: { inlineBytes: pem(crt) }, privateKey: { inlineBytes: pem(key) } } });
const caSecret = (name: string, ca: string): ProtoObject => ({ name, validationContext: { trustedCa: { inlineBytes: pem(ca) } } });
const serialOf = (crt: string) => serialHex(new X509(pem(crt)).serialNumber);

/** The PEM body of a key file (its base64 lines, without the armour): what must never appear in a dump. */
function keyBody(file: string): string[] {
  return pem(file)
    .toString()
    .split("\n")
    .filter((l) => l.length > 20 && !l.startsWith("-----"));
}

const CLUSTERS: ProtoObject[] = [staticCluster("backend", PLAIN_BACKEND, 8080), {
  ...staticCluster("upstream-ads", HTTPS_BACKEND, 8443),
  transportSocket: {
    name: "envoy.transport_sockets.tls",
    typedConfig: {
      "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
      sni: "gateway.example.com",
      commonTlsContext: { combinedValidationContext: { defaultValidationContext: { matchTypedSubjectAltNames: [{ sanType: "DNS", matcher: { exact: "gateway.example.com" } }] }, validationContextSdsSecretConfig: { name: "kubernetes://upstream-cacert", sdsConfig: SDS_ADS } } },
    },
  },
}];
const GATEWAY = httpListener("gw-8443", GW, 8443, "backend", { commonTlsContext: { tlsCertificateSdsSecretConfigs: [{ name: "kubernetes://gw-cred", sdsConfig: SDS_ADS }] } });
const OUTBOUND = httpListener("out-8080", GW, 8080, "upstream-ads");

function snapshot(o: { gateway?: boolean; secrets?: ProtoObject[] }): Snapshot {
  const byName = (list: ProtoObject[]) => Object.fromEntries(list.map((x) => [String(x.name), x]));
  return {
    [CLUSTER_TYPE]: byName(CLUSTERS),
    [LISTENER_TYPE]: byName(o.gateway === false ? [OUTBOUND] : [GATEWAY, OUTBOUND]),
    [SECRET_TYPE]: byName(o.secrets ?? []),
  };
}

/** A TLS handshake with the gateway: the certificate it presented, or the error. */
function gatewayCert(): Promise<string | Error> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: GW, port: 8443, servername: "gateway.example.com", ca: pem("ca.crt") });
    s.once("secureConnect", () => {
      resolve(serialHex(s.getPeerCertificate().serialNumber));
      s.destroy();
    });
    s.once("error", (e) => resolve(e));
    s.once("close", () => resolve(new Error("closed")));
  });
}

describe("secrets over ADS (credentialName)", () => {
  let h: Harness;
  let proxy: ProxyServer;
  let admin: AdminServer;
  let adminPort = 0;
  let plain: Backend;
  let https: HttpsBackend;

  before(async () => {
    h = await Harness.start();
    plain = await Backend.start("plain", PLAIN_BACKEND, 8080);
    https = await new HttpsBackend("https", {}).start(HTTPS_BACKEND, 8443);
    h.server.setContext(fullPush(snapshot({})));
    proxy = new ProxyServer({ discoveryAddress: `127.0.0.1:${h.port}`, node: { id: "router~127.0.134.1~gw.istio-system~istio-system.svc.cluster.local" }, log: () => {} });
    admin = new AdminServer(proxy, { nodeId: "gw", onQuit: () => {} });
    adminPort = await admin.listen(GW, 0);
    await proxy.start();
    await proxy.ready();
  });

  after(async () => {
    admin.close();
    await proxy.close();
    await h.close();
    await plain.close();
    await https.close();
  });

  const secretStatus = () => h.server.connections()[0]?.types.find((t) => t.typeUrl === SECRET_TYPE);
  const adminGet = async (path: string) => (await request(`http://${GW}:${adminPort}${path}`)).body;

  it("subscribes to the Secrets the config names; until they arrive TLS fails closed on both sides", async () => {
    const st = await eventually("the Secret subscription", () => secretStatus());
    assert.deepEqual([...st.names].sort(), ["kubernetes://gw-cred", "kubernetes://upstream-cacert"]);
    assert.ok((await gatewayCert()) instanceof Error);
    const r = await request(`http://${GW}:8080/x`);
    assert.equal(r.status, 503);
    assert.match(r.body, /Secret is not supplied by SDS \("kubernetes:\/\/upstream-cacert"\)/);
    // Awaited secrets show as warming in the config dump.
    const dump = JSON.parse(await adminGet("/config_dump")) as { configs: Array<Record<string, unknown>> };
    const secrets = dump.configs.find((c) => c["@type"] === "type.googleapis.com/envoy.admin.v3.SecretsConfigDump") as { dynamic_warming_secrets?: Array<{ name: string }> };
    assert.deepEqual(secrets.dynamic_warming_secrets?.map((s) => s.name).sort(), ["kubernetes://gw-cred", "kubernetes://upstream-cacert"]);
  });

  it("serves once the Secrets arrive: the gateway presents the credential, the cluster verifies with the CA secret", async () => {
    h.server.push(fullPush(snapshot({ secrets: [certSecret("kubernetes://gw-cred", "server.crt", "server.key"), caSecret("kubernetes://upstream-cacert", "ca.crt")] })));
    const serial = await eventually("the gateway's certificate", async () => {
      const s = await gatewayCert();
      return typeof s === "string" ? s : undefined;
    });
    assert.equal(serial, serialOf("server.crt"));
    const r = await request(`http://${GW}:8080/x`);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, "https");
  });

  it("a bad Secret is NACKed with its name and field; the last good one keeps serving", async () => {
    const before = proxy.ads!.stats().get(SECRET_TYPE)!.updateRejected;
    // server.crt with another certificate's key.
    h.server.push(fullPush(snapshot({ secrets: [certSecret("kubernetes://gw-cred", "server.crt", "client.key"), caSecret("kubernetes://upstream-cacert", "ca.crt")] })));
    await eventually("the NACK", () => proxy.ads!.stats().get(SECRET_TYPE)!.updateRejected > before);
    const nack = proxy.ads!.snapshot().get(SECRET_TYPE)!.nack!;
    assert.match(nack.message, /Secret kubernetes:\/\/gw-cred: tlsCertificate\.privateKey: the private key does not match the leaf certificate/);
    for (const line of keyBody("client.key")) assert.ok(!nack.message.includes(line), "the NACK quotes no key material");
    await eventually("the server recorded the NACK", () => secretStatus()?.nack !== undefined);
    assert.equal(await gatewayCert(), serialOf("server.crt"), "the last good certificate keeps serving");
    // A certificate that does not parse, and a CA bundle without certificates: refused too.
    for (const bad of [
      { name: "kubernetes://gw-cred", tlsCertificate: { certificateChain: { inlineString: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" }, privateKey: { inlineBytes: pem("server.key") } } },
      { name: "kubernetes://upstream-cacert", validationContext: { trustedCa: { inlineString: "not a certificate" } } },
    ]) {
      const n = proxy.ads!.stats().get(SECRET_TYPE)!.updateRejected;
      h.server.push(fullPush(snapshot({ secrets: [bad, ...(bad.name === "kubernetes://gw-cred" ? [caSecret("kubernetes://upstream-cacert", "ca.crt")] : [certSecret("kubernetes://gw-cred", "server.crt", "server.key")])] })));
      await eventually("the NACK", () => proxy.ads!.stats().get(SECRET_TYPE)!.updateRejected > n);
      assert.match(proxy.ads!.snapshot().get(SECRET_TYPE)!.nack!.message, new RegExp(bad.name === "kubernetes://gw-cred" ? "tlsCertificate\\.certificateChain" : "validationContext\\.trustedCa"));
    }
    assert.equal((await request(`http://${GW}:8080/x`)).status, 200);
    assert.equal(await gatewayCert(), serialOf("server.crt"));
  });

  it("a rotated credential is presented to new handshakes", async () => {
    h.server.push(fullPush(snapshot({ secrets: [certSecret("kubernetes://gw-cred", "revoked.crt", "revoked.key"), caSecret("kubernetes://upstream-cacert", "ca.crt")] })));
    const want = serialOf("revoked.crt");
    // revoked.crt is signed by client-ca.crt, which the handshake helper does not trust: look at the error-free path.
    await eventually("the rotated certificate", async () => {
      const got = await new Promise<string>((resolve) => {
        const s = tls.connect({ host: GW, port: 8443, servername: "revoked.example.com", rejectUnauthorized: false });
        s.once("secureConnect", () => {
          resolve(serialHex(s.getPeerCertificate().serialNumber));
          s.destroy();
        });
        s.once("error", () => resolve(""));
      });
      return got === want;
    });
  });

  it("/certs shows each context in Envoy's format; /config_dump holds the secrets with their keys redacted", async () => {
    const certs = JSON.parse(await adminGet("/certs")) as { certificates: Array<{ ca_cert: Array<Record<string, unknown>>; cert_chain: Array<Record<string, unknown>> }> };
    const gw = certs.certificates.find((c) => c.cert_chain.length > 0);
    const up = certs.certificates.find((c) => c.ca_cert.length > 0);
    assert.ok(gw && up, JSON.stringify(certs));
    const leaf = gw.cert_chain[0];
    assert.deepEqual(Object.keys(leaf).sort(), ["days_until_expiration", "expiration_time", "path", "serial_number", "subject_alt_names", "valid_from"]);
    assert.equal(leaf.path, "<inline>");
    assert.equal(leaf.serial_number, serialOf("revoked.crt"));
    assert.equal(leaf.serial_number, "03ea", "BoringSSL's BN_bn2hex of serial 0x3EA, lower case (test/fixtures/tls/README.md)");
    assert.deepEqual(leaf.subject_alt_names, [{ dns: "revoked.example.com" }]);
    assert.match(String(leaf.days_until_expiration), /^\d+$/);
    assert.ok(Number(leaf.days_until_expiration) > 99 * 365, "the fixtures are valid for 100 years");
    assert.match(String(leaf.valid_from), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(leaf.expiration_time, new Date(new X509(pem("revoked.crt")).validTo).toISOString().replace(/\.000Z$/, "Z"));
    assert.deepEqual(gw.ca_cert, []);
    assert.equal(up.ca_cert[0].path, "<inline>");
    assert.equal(up.ca_cert[0].serial_number, serialOf("ca.crt"));
    assert.deepEqual(up.cert_chain, []);

    const text = await adminGet("/config_dump");
    for (const f of ["server.key", "revoked.key", "client.key"]) for (const line of keyBody(f)) assert.ok(!text.includes(line), `no line of ${f} in the config dump`);
    const dump = JSON.parse(text) as { configs: Array<Record<string, unknown>> };
    const secrets = dump.configs.find((c) => c["@type"] === "type.googleapis.com/envoy.admin.v3.SecretsConfigDump") as { dynamic_active_secrets: Array<{ name: string; version_info: string; last_updated: string; secret: Record<string, unknown> }> };
    const cred = secrets.dynamic_active_secrets.find((s) => s.name === "kubernetes://gw-cred")!;
    assert.ok(cred.version_info.length > 0);
    assert.match(cred.last_updated, /^\d{4}-\d\d-\d\dT/);
    const tc = cred.secret.tls_certificate as { certificate_chain: { inline_bytes: string }; private_key: { inline_string: string } };
    assert.equal(tc.private_key.inline_string, "[redacted]");
    assert.equal(Buffer.from(tc.certificate_chain.inline_bytes, "base64").toString(), pem("revoked.crt").toString());
    assert.ok(secrets.dynamic_active_secrets.some((s) => s.name === "kubernetes://upstream-cacert" && "validation_context" in s.secret));
  });

  it("a cluster or listener replaced by updates keeps one watch on its secrets (no leak)", async () => {
    for (let i = 1; i <= 3; i++) {
      const clusters: ProtoObject[] = CLUSTERS.map((c) => ({ ...c, connectTimeout: { seconds: 5 + i } }));
      const gateway = { ...GATEWAY, perConnectionBufferLimitBytes: { value: 65536 + i } };
      const snap = snapshot({ secrets: [certSecret("kubernetes://gw-cred", "revoked.crt", "revoked.key"), caSecret("kubernetes://upstream-cacert", "ca.crt")] });
      snap[CLUSTER_TYPE] = Object.fromEntries(clusters.map((c) => [String(c["name"]), c]));
      snap[LISTENER_TYPE]["gw-8443"] = gateway;
      h.server.push(fullPush(snap));
      await eventually(`update ${i} applied`, () => proxy.cluster("upstream-ads")?.spec.connectTimeoutMs === (5 + i) * 1000 && proxy.listeners.specs().some((l) => l.object.perConnectionBufferLimitBytes?.value === 65536 + i));
    }
    assert.equal(proxy.secrets.watcherCount("ads", "kubernetes://upstream-cacert"), 1);
    assert.equal(proxy.secrets.watcherCount("ads", "kubernetes://gw-cred"), 1);
    assert.equal((await request(`http://${GW}:8080/x`)).status, 200);
  });

  it("a Secret no listener or cluster names any more is unsubscribed and dropped (no leak)", async () => {
    h.server.push(fullPush(snapshot({ gateway: false, secrets: [certSecret("kubernetes://gw-cred", "revoked.crt", "revoked.key"), caSecret("kubernetes://upstream-cacert", "ca.crt")] })));
    await eventually("the unsubscribe", () => {
      const st = secretStatus();
      return st !== undefined && st.names.length === 1 && st.names[0] === "kubernetes://upstream-cacert";
    });
    await eventually("the secret dropped", () => proxy.secrets.get("ads", "kubernetes://gw-cred") === undefined);
    await eventually("the listener's watch released", () => !proxy.secrets.watchedNames("ads").includes("kubernetes://gw-cred"), 15_000);
    assert.equal((await request(`http://${GW}:8080/x`)).status, 200, "the cluster's CA secret stays");
  });
});
