// Gateway credentials need an authenticated stream (istiod's VerifiedIdentity): with the mesh CA on,
// the control plane sends a `kubernetes://NAME` Secret — a private key — only to an ADS stream whose
// `authorization: Bearer` workload credential verifies and names the proxy's namespace. A stream
// with no credential, a forged one, or one for another namespace gets nothing, and the refusal is
// logged. Real gRPC on loopback.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { Discovery } from "../../src/controlplane/discovery.js";
import { CLUSTER_TYPE, SECRET_TYPE } from "../../src/envoy/protos.js";
import { proxyNodeId } from "../../src/model/proxy.js";
import { tlsFixture } from "../helpers/tls-fixtures.js";
import { deltaStreamTo, type DeltaStream } from "../xds/server/helpers.js";

const GATEWAY = (n: number) => proxyNodeId("router", `127.0.94.${n}`, "istio-ingressgateway", "istio-system");
const CRED = "kubernetes://httpbin-credential";

describe("gateway credentials only to authenticated streams", () => {
  const root = mkdtempSync(join(tmpdir(), "tsmesh-creds-auth-"));
  const logs: string[] = [];
  let discovery: Discovery;
  let client: grpc.Client;
  const streams: DeltaStream[] = [];

  before(async () => {
    const creds = join(root, "credentials");
    const config = join(root, "config");
    mkdirSync(creds);
    mkdirSync(config);
    writeFileSync(join(creds, "httpbin-credential.crt"), tlsFixture("server.crt"));
    writeFileSync(join(creds, "httpbin-credential.key"), tlsFixture("server.key"));
    discovery = new Discovery({ configPaths: [config], credentialsDir: creds, stateDir: join(root, "state"), secureXdsAddress: "", xdsAddress: "127.0.0.1:0", monitoringAddress: "", debounceQuietMs: 10, log: (l) => logs.push(l) });
    const { xdsPort } = await discovery.start();
    client = new grpc.Client(`127.0.0.1:${xdsPort}`, grpc.credentials.createInsecure());
  });
  after(async () => {
    for (const s of streams) s.close();
    client.close();
    await discovery.close();
    rmSync(root, { recursive: true, force: true });
  });

  const bearer = (token: string) => {
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${token}`);
    return md;
  };

  /** The Secret names a gateway stream (with `md`) gets for CRED. */
  const secretsFor = async (n: number, md?: grpc.Metadata): Promise<string[]> => {
    const s = deltaStreamTo(client, { id: GATEWAY(n), metadata: { NAMESPACE: "istio-system", INTERCEPTION_MODE: "NONE" } }, md);
    streams.push(s);
    s.request(CLUSTER_TYPE);
    s.ack(await s.next());
    s.request(SECRET_TYPE, [CRED]);
    const r = await s.next();
    assert.equal(r.typeUrl, SECRET_TYPE);
    s.ack(r);
    return r.resources.map((x) => x.name);
  };

  it("a stream with the gateway's own credential gets the certificate and key", async () => {
    const { token } = await discovery.security!.issueCredential({ namespace: "istio-system", serviceAccount: "istio-ingressgateway-service-account" });
    assert.deepEqual(await secretsFor(1, bearer(token)), [CRED]);
  });

  it("no credential: nothing, and the refusal says why", async () => {
    assert.deepEqual(await secretsFor(2), []);
    assert.ok(logs.some((l) => l.includes(GATEWAY(2)) && l.includes(CRED) && l.includes("no valid workload credential")), logs.join("\n"));
  });

  it("a forged credential, or one for another namespace: nothing", async () => {
    const { token } = await discovery.security!.issueCredential({ namespace: "default", serviceAccount: "sleep" });
    assert.deepEqual(await secretsFor(3, bearer(token)), []);
    assert.ok(logs.some((l) => l.includes(GATEWAY(3)) && l.includes("credential is for namespace default")), logs.join("\n"));
    const [h, p, sig] = token.split(".");
    assert.deepEqual(await secretsFor(4, bearer(`${h}.${p}.${sig.slice(0, -4)}AAAA`)), []);
    assert.deepEqual(await secretsFor(5, bearer("not-a-jwt")), []);
  });

  it("no token ever reaches a log line", () => {
    for (const l of logs) assert.doesNotMatch(l, /eyJ[A-Za-z0-9_-]{10,}\./);
  });
});
