// Gateway credentials end to end on the control plane side, over real gRPC: a Discovery with a
// watched credentials folder serves `kubernetes://NAME` and `-cacert` Secrets to a gateway that
// subscribes (Delta and SotW), a rotation on disk pushes a new version of the Secret type alone,
// a sidecar of another namespace is refused (and the refusal logged), a removal is sent as removed,
// and no private key reaches a log line or a debug page.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { Discovery } from "../../src/controlplane/discovery.js";
import { tlsFixture } from "../helpers/tls-fixtures.js";
import { CLUSTER_TYPE, SECRET_TYPE } from "../../src/envoy/protos.js";
import { proxyNodeId } from "../../src/model/proxy.js";
import { type DeltaResponse, type DeltaStream, deltaStreamTo, type SotwStream, sotwStreamTo } from "../xds/server/helpers.js";

const fixture = (f: string) => tlsFixture(f).toString();
const SERVER_CRT = fixture("server.crt");
const SERVER_KEY = fixture("server.key");
const CLIENT_CRT = fixture("client.crt");
const CLIENT_KEY = fixture("client.key");
const CA_CRT = fixture("ca.crt");
/** Lines of each key's base64 body: none may appear anywhere outside the Secret resource itself. */
const KEY_LINES = [SERVER_KEY, CLIENT_KEY].flatMap((k) => k.split("\n").filter((l) => l.length > 40 && !l.startsWith("-----")));

const GATEWAY = proxyNodeId("router", "127.0.93.1", "istio-ingressgateway", "istio-system");
const SIDECAR = proxyNodeId("sidecar", "127.0.93.2", "productpage-v1", "default");
const CRED = "kubernetes://httpbin-credential";
const CACERT = "kubernetes://httpbin-credential-cacert";

type SecretObject = { name: string; tlsCertificate?: { certificateChain: { inlineBytes: Uint8Array }; privateKey: { inlineBytes: Uint8Array } }; validationContext?: { trustedCa: { inlineBytes: Uint8Array } } };

function assertNoKey(text: string, where: string): void {
  for (const l of KEY_LINES) assert.ok(!text.includes(l), `${where} shows private key material`);
  assert.ok(!text.includes("PRIVATE KEY-----"), `${where} shows a PEM private key`);
}

describe("gateway credentials over ADS", () => {
  const config = mkdtempSync(join(tmpdir(), "tsmesh-creds-config-"));
  const creds = mkdtempSync(join(tmpdir(), "tsmesh-creds-"));
  const logs: string[] = [];
  let discovery: Discovery;
  let client: grpc.Client;
  let monitoring = "";
  const streams: Array<DeltaStream | SotwStream> = [];

  /** Writes a file the way kubectl-style tools and editors do: a new file renamed over the old one. */
  const save = (name: string, text: string) => {
    writeFileSync(join(creds, `.${name}.tmp`), text);
    renameSync(join(creds, `.${name}.tmp`), join(creds, name));
  };

  before(async () => {
    save("httpbin-credential.crt", SERVER_CRT);
    save("httpbin-credential.key", SERVER_KEY);
    save("httpbin-credential.ca.crt", CA_CRT);
    mkdirSync(join(creds, "namespaces", "default"), { recursive: true });
    discovery = new Discovery({
      configPaths: [config],
      credentialsDir: creds,
      xdsAddress: "127.0.0.1:0",
      monitoringAddress: "127.0.0.1:0",
      debounceQuietMs: 10,
      log: (l) => logs.push(l),
    });
    const { xdsPort, monitoringPort } = await discovery.start();
    monitoring = `http://127.0.0.1:${monitoringPort}`;
    client = new grpc.Client(`127.0.0.1:${xdsPort}`, grpc.credentials.createInsecure());
  });
  after(async () => {
    for (const s of streams) s.close();
    client.close();
    await discovery.close();
    rmSync(config, { recursive: true, force: true });
    rmSync(creds, { recursive: true, force: true });
  });

  const secretsOf = (r: DeltaResponse) => new Map(r.resources.map((x) => [x.name, x.object as unknown as SecretObject]));
  const text = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString();

  let gateway: DeltaStream;

  it("a gateway that subscribes to kubernetes://NAME and NAME-cacert gets both", async () => {
    gateway = deltaStreamTo(client, { id: GATEWAY, metadata: { NAMESPACE: "istio-system", INTERCEPTION_MODE: "NONE" } });
    streams.push(gateway);
    gateway.request(CLUSTER_TYPE);
    const cds = await gateway.next();
    assert.equal(cds.typeUrl, CLUSTER_TYPE);
    gateway.ack(cds);
    gateway.request(SECRET_TYPE, [CRED, CACERT]);
    const r = await gateway.next();
    assert.equal(r.typeUrl, SECRET_TYPE);
    gateway.ack(r);
    const s = secretsOf(r);
    assert.deepEqual([...s.keys()].sort(), [CRED, CACERT]);
    assert.equal(text(s.get(CRED)!.tlsCertificate!.certificateChain.inlineBytes), SERVER_CRT);
    assert.equal(text(s.get(CRED)!.tlsCertificate!.privateKey.inlineBytes), SERVER_KEY);
    assert.equal(text(s.get(CACERT)!.validationContext!.trustedCa.inlineBytes), CA_CRT);
    assert.deepEqual(r.removed, []);
  });

  it("a rotation on disk pushes a new version of the changed Secret, and nothing else", async () => {
    const before = discovery.server.connection(GATEWAY)!.types.find((t) => t.typeUrl === SECRET_TYPE)!.resourceVersions;
    // Key first, then certificate: a half-done rotation is rejected, the last good copy serves.
    save("httpbin-credential.key", CLIENT_KEY);
    save("httpbin-credential.crt", CLIENT_CRT);
    let r: DeltaResponse;
    for (;;) {
      r = await gateway.next();
      gateway.ack(r);
      assert.equal(r.typeUrl, SECRET_TYPE, "only the Secret type is pushed");
      if (text(secretsOf(r).get(CRED)?.tlsCertificate?.certificateChain.inlineBytes) === CLIENT_CRT) break;
    }
    // The CA half did not change: Delta sends only the rotated certificate.
    assert.deepEqual(r.resources.map((x) => x.name), [CRED]);
    assert.notEqual(r.resources[0].version, before[CRED]);
    assert.equal(text(secretsOf(r).get(CRED)!.tlsCertificate!.privateKey.inlineBytes), CLIENT_KEY);
    await gateway.quiet(300);
    assert.ok(logs.some((l) => l.includes("credential istio-system/httpbin-credential from") && l.endsWith(": served")), logs.join("\n"));
  });

  it("a bad edit is logged naming the file, and the gateway keeps its certificate", async () => {
    save("httpbin-credential.key", SERVER_KEY); // does not match the client certificate now on disk
    const line = await (async () => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const l = logs.find((x) => x.includes("credential istio-system/httpbin-credential: ") && x.includes("does not match"));
        if (l) return l;
        if (Date.now() > deadline) assert.fail(`no rejection logged:\n${logs.join("\n")}`);
        await new Promise((res) => setTimeout(res, 10));
      }
    })();
    assert.match(line, /httpbin-credential\.key does not match the certificate in .*httpbin-credential\.crt .*\(last good copy kept\)$/);
    await gateway.quiet(300);
    save("httpbin-credential.key", CLIENT_KEY);
  });

  it("a sidecar in another namespace is refused the gateway's credential, and the refusal is logged", async () => {
    const s = sotwStreamTo(client, { id: SIDECAR, metadata: { NAMESPACE: "default", INTERCEPTION_MODE: "NONE" } });
    streams.push(s);
    s.request(SECRET_TYPE, ["kubernetes://istio-system/httpbin-credential", CRED]);
    const r = await s.next();
    assert.equal(r.typeUrl, SECRET_TYPE);
    assert.deepEqual(r.names, []);
    const refused = logs.filter((l) => l.includes(SIDECAR));
    assert.equal(refused.length, 2, refused.join("\n"));
    assert.match(refused[0], /asked for secret kubernetes:\/\/istio-system\/httpbin-credential: refused: the secret is in namespace istio-system, the proxy in default/);
    assert.match(refused[1], /asked for secret kubernetes:\/\/httpbin-credential: refused: sidecars read a certificate and key only/);
    const metrics = await (await fetch(`${monitoring}/metrics`)).text();
    assert.match(metrics, /^pilot_sds_certificate_errors_total [1-9]/m);
    s.ack(r);
  });

  it("debug pages show the gateway's secrets with the private key redacted", async () => {
    const dump = await (await fetch(`${monitoring}/debug/config_dump?proxyID=${encodeURIComponent(GATEWAY)}`)).text();
    // Proto JSON with the .proto field names, as Envoy's admin prints it.
    const parsed = JSON.parse(dump) as { configs: Array<{ "@type": string; dynamic_active_secrets?: Array<{ name: string; secret: { tls_certificate?: { private_key: unknown; certificate_chain: { inline_bytes: string } } } }> }> };
    const secrets = parsed.configs.find((c) => c["@type"].endsWith("SecretsConfigDump"))!.dynamic_active_secrets!;
    assert.deepEqual(secrets.map((s) => s.name).sort(), [CRED, CACERT]);
    const tls = secrets.find((s) => s.name === CRED)!.secret.tls_certificate!;
    assert.deepEqual(tls.private_key, { inline_string: "[redacted]" });
    assert.equal(Buffer.from(tls.certificate_chain.inline_bytes, "base64").toString(), CLIENT_CRT);
    assertNoKey(dump, "/debug/config_dump");
    for (const page of ["/debug/syncz", "/debug/connections", "/metrics"]) assertNoKey(await (await fetch(`${monitoring}${page}`)).text(), page);
  });

  it("a removed credential is removed from the gateway (Delta removed_resources)", async () => {
    rmSync(join(creds, "httpbin-credential.crt"));
    rmSync(join(creds, "httpbin-credential.key"));
    rmSync(join(creds, "httpbin-credential.ca.crt"));
    // The removals may be seen one file at a time (for a moment a CA-only credential): wait for both names.
    const removed = new Set<string>();
    while (removed.size < 2) {
      const r = await gateway.next();
      gateway.ack(r);
      assert.equal(r.typeUrl, SECRET_TYPE);
      for (const n of r.removed) removed.add(n);
    }
    assert.deepEqual([...removed].sort(), [CRED, CACERT]);
    assert.ok(logs.some((l) => l === "discovery: credential istio-system/httpbin-credential removed"));
  });

  it("no log line carries key material", () => {
    assertNoKey(logs.join("\n"), "the control plane's log");
  });
});
