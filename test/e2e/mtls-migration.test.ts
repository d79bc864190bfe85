// Istio's mTLS migration task on a real local mesh (examples/mtls-migration on 127.110.x.y: httpbin and
// sleep in namespaces foo and bar, every workload with a sidecar whose agent gets its certificate
// from the mesh CA): auto mTLS between sidecars (httpbin sees sleep's SPIFFE ID in
// X-Forwarded-Client-Cert, exactly as istio.io shows it), a client without a sidecar ("legacy": a
// plain request to the workload's address) gets 200 under PERMISSIVE and a reset under STRICT per
// namespace and then mesh-wide, meshed clients keep getting 200; `proxy-config secret` shows the
// workload's certificate and root; no private key reaches the config dump.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { runProxyConfig } from "../../src/cli/proxy-config.js";
import { httpRequest, TestMesh } from "../helpers/mesh.js";

const OCTET = 110;
const HTTPBIN = { foo: `127.${OCTET}.8.1`, bar: `127.${OCTET}.9.1` } as const;
const SLEEP = { foo: "foo/sleep", bar: "bar/sleep" } as const;
type Ns = keyof typeof HTTPBIN;

const strict = (ns: string) => `apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: default
  namespace: ${ns}
spec:
  mtls:
    mode: STRICT
`;

/** sleep.legacy: a plain HTTP request straight to httpbin's workload address (no sidecar on the client). "000" when the connection fails, as curl prints it. */
function legacy(to: Ns): Promise<string> {
  return new Promise((resolve) => {
    let buf = "";
    const s = net.connect(8080, HTTPBIN[to], () => s.write(`GET /ip HTTP/1.1\r\nHost: httpbin.${to}:8000\r\nConnection: close\r\n\r\n`));
    s.setTimeout(10_000, () => s.destroy());
    s.on("data", (d: Buffer) => (buf += d.toString("latin1")));
    s.on("error", () => {});
    s.on("close", () => resolve(/^HTTP\/1\.1 (\d{3})/.exec(buf)?.[1] ?? "000"));
  });
}

describe("Istio's mTLS migration task on tsmesh up", { timeout: 180_000 }, () => {
  let mesh: TestMesh;
  before(async () => {
    mesh = await TestMesh.start({ example: "mtls-migration", octet: OCTET });
  });
  after(async () => {
    await mesh?.stop();
  });

  /** sleep.FROM to httpbin.TO: the task's table line. */
  const meshed = async (from: Ns, to: Ns) => (await mesh.fromWorkload(SLEEP[from], `http://httpbin.${to}:8000/ip`)).status;
  const table = async () => {
    const out: string[] = [];
    for (const from of ["foo", "bar", "legacy"] as const) {
      for (const to of ["foo", "bar"] as const) out.push(`sleep.${from} to httpbin.${to}: ${from === "legacy" ? await legacy(to) : await meshed(from, to)}`);
    }
    return out;
  };

  it("set up: every client gets 200, and sidecar to sidecar is mutual TLS with the callers' SPIFFE IDs", async () => {
    assert.deepEqual(await table(), ["sleep.foo to httpbin.foo: 200", "sleep.foo to httpbin.bar: 200", "sleep.bar to httpbin.foo: 200", "sleep.bar to httpbin.bar: 200", "sleep.legacy to httpbin.foo: 200", "sleep.legacy to httpbin.bar: 200"]);
    const r = await mesh.fromWorkload(SLEEP.bar, "http://httpbin.foo:8000/headers");
    // go-httpbin (Istio's current httpbin) lists each header's values.
    const xfcc = (JSON.parse(r.body) as { headers: Record<string, string[]> }).headers["X-Forwarded-Client-Cert"]?.join(",") ?? "";
    assert.match(xfcc, /^By=spiffe:\/\/cluster\.local\/ns\/foo\/sa\/httpbin;Hash=[0-9a-f]{64};Subject="";URI=spiffe:\/\/cluster\.local\/ns\/bar\/sa\/sleep$/);
    // The legacy client's request carries no client certificate, so no XFCC.
    const plain = await httpRequest(HTTPBIN.foo, 8080, "/headers", { headers: { host: "httpbin.foo:8000" } });
    assert.equal((JSON.parse(plain.body) as { headers: Record<string, string[]> }).headers["X-Forwarded-Client-Cert"], undefined);
  });

  it("lock down foo to mutual TLS: legacy to httpbin.foo fails, everything else 200", async () => {
    await mesh.apply(strict("foo"));
    assert.deepEqual(await table(), ["sleep.foo to httpbin.foo: 200", "sleep.foo to httpbin.bar: 200", "sleep.bar to httpbin.foo: 200", "sleep.bar to httpbin.bar: 200", "sleep.legacy to httpbin.foo: 000", "sleep.legacy to httpbin.bar: 200"]);
  });

  it("lock down the entire mesh: legacy fails everywhere, meshed clients 200", async () => {
    await mesh.apply(strict("istio-system"));
    assert.deepEqual(await table(), ["sleep.foo to httpbin.foo: 200", "sleep.foo to httpbin.bar: 200", "sleep.bar to httpbin.foo: 200", "sleep.bar to httpbin.bar: 200", "sleep.legacy to httpbin.foo: 000", "sleep.legacy to httpbin.bar: 000"]);
  });

  it("clean up: the policies deleted, legacy clients get 200 again", async () => {
    await mesh.delete(strict("foo"));
    await mesh.delete(strict("istio-system"));
    const t = await table();
    assert.deepEqual(t.slice(4), ["sleep.legacy to httpbin.foo: 200", "sleep.legacy to httpbin.bar: 200"]);
  });

  it("proxy-config secret: the workload's certificate and the mesh root, active and valid", async () => {
    const out: string[] = [];
    const code = await runProxyConfig({ kind: "secret", workload: "foo/httpbin", output: "short", admin: `http://${HTTPBIN.foo}:15000` }, (s) => out.push(s), (s) => out.push(s));
    assert.equal(code, 0, out.join("\n"));
    const lines = out.join("\n").split("\n");
    assert.match(lines[0], /^RESOURCE NAME\s+TYPE\s+STATUS\s+VALID CERT\s+SERIAL NUMBER\s+NOT AFTER\s+NOT BEFORE$/);
    assert.ok(lines.some((l) => /^default\s+Cert Chain\s+ACTIVE\s+true\s+[0-9a-f]+\s/.test(l)), lines.join("\n"));
    assert.ok(lines.some((l) => /^ROOTCA\s+CA\s+ACTIVE\s+true\s+[0-9a-f]+\s/.test(l)), lines.join("\n"));
  });

  it("no private key in any proxy's config dump or /certs", async () => {
    for (const ip of [HTTPBIN.foo, HTTPBIN.bar]) {
      for (const path of ["/config_dump", "/certs"]) {
        const r = await httpRequest(ip, 15000, path);
        assert.equal(r.status, 200);
        assert.doesNotMatch(r.body, /PRIVATE KEY/);
      }
    }
  });
});
