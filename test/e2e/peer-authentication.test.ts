// PeerAuthentication on a real local mesh (`tsmesh up`'s bookinfo on 127.126.x.y): a client
// without a sidecar (a plain socket to the workload's address) gets 200 under PERMISSIVE and a
// closed connection under STRICT, as in Istio's mTLS migration task; the gateway, sending plaintext
// here, gets 503. Auto mTLS is off in this mesh (mesh config `enableAutoMtls: false`), so every
// client is a plaintext one; mtls-migration.test.ts runs the task with auto mTLS on.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { TestMesh } from "../helpers/mesh.js";
import { eventually } from "./helpers.js";

const OCTET = 126;
const PRODUCTPAGE = `127.${OCTET}.2.1`;

/** The status line a plaintext HTTP/1.1 request to `host:port` gets, or "closed" when the connection ends without one. */
function plaintextGet(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    let buf = "";
    const s = net.connect(port, host, () => s.write("GET /productpage HTTP/1.1\r\nHost: productpage\r\nConnection: close\r\n\r\n"));
    s.setTimeout(10_000, () => s.destroy());
    s.on("data", (d: Buffer) => (buf += d.toString("latin1")));
    s.on("error", () => {});
    s.on("close", () => resolve(buf.split("\r\n")[0] || "closed"));
  });
}

describe("PeerAuthentication on tsmesh up: PERMISSIVE and STRICT for a client without sidecar", { timeout: 120_000 }, () => {
  let mesh: TestMesh;
  before(async () => {
    mesh = await TestMesh.start({ example: "bookinfo", octet: OCTET });
    await mesh.apply(`apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    enableAutoMtls: false
`);
  });
  after(async () => {
    await mesh?.stop();
  });

  it("PERMISSIVE (no policy): plaintext is accepted", async () => {
    await eventually("the gateway's plaintext request to succeed", async () => (await mesh.gateway("/productpage")).status === 200, 30_000);
    assert.equal(await plaintextGet(PRODUCTPAGE, 9080), "HTTP/1.1 200 OK");
  });

  it("namespace STRICT: a plaintext connection is closed; DISABLE: accepted again", async () => {
    await mesh.apply("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: default}\nspec: {mtls: {mode: STRICT}}\n");
    await eventually("plaintext to be refused", async () => (await plaintextGet(PRODUCTPAGE, 9080)) === "closed", 30_000);
    assert.equal((await mesh.gateway("/productpage")).status, 503, "the gateway's plaintext connection is refused too");
    await mesh.apply("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: default}\nspec: {mtls: {mode: DISABLE}}\n");
    await eventually("plaintext to be accepted", async () => (await plaintextGet(PRODUCTPAGE, 9080)) === "HTTP/1.1 200 OK", 30_000);
  });
});
