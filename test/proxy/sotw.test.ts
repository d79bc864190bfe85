// The proxy on State-of-the-World ADS (`--xds sotw`) against a real Discovery: warm start,
// routing, a live route change, and an endpoint removed on the incremental EDS path.
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Discovery } from "../../src/controlplane/discovery.js";
import { proxyNodeId } from "../../src/model/proxy.js";
import { ProxyServer } from "../../src/proxy/proxy.js";
import { eventually } from "../helpers/eventually.js";
import { Backend, request } from "./helpers.js";

const GW_IP = "127.0.68.1";

const mesh = (withB: boolean) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: default}
spec:
  hosts: [web.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: web}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: web-a, namespace: default}
spec: {address: 127.0.68.2, labels: {app: web}}
${withB ? "---\napiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: web-b, namespace: default}\nspec: {address: 127.0.68.3, labels: {app: web}}\n" : ""}`;

const gateway = (prefix: string) => `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - match: [{uri: {prefix: ${prefix}}}]
    route: [{destination: {host: web.default.svc.cluster.local}}]
`;

function replace(dir: string, file: string, text: string): void {
  writeFileSync(join(dir, `.${file}.tmp`), text);
  renameSync(join(dir, `.${file}.tmp`), join(dir, file));
}

describe("tsmesh proxy on SotW ADS", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-proxy-sotw-"));
  let discovery: Discovery;
  let proxy: ProxyServer;
  const backends: Backend[] = [];

  before(async () => {
    writeFileSync(join(dir, "mesh.yaml"), mesh(true));
    writeFileSync(join(dir, "gw.yaml"), gateway("/old"));
    backends.push(await Backend.start("a", "127.0.68.2", 8080), await Backend.start("b", "127.0.68.3", 8080));
    discovery = new Discovery({ configPaths: [dir], xdsAddress: "127.0.0.1:0", monitoringAddress: "", log: () => {} });
    const { xdsPort } = await discovery.start();
    proxy = new ProxyServer({
      discoveryAddress: `127.0.0.1:${xdsPort}`,
      protocol: "sotw",
      node: { id: proxyNodeId("router", GW_IP, "gw", "default"), metadata: { NAMESPACE: "default", LABELS: { istio: "ingressgateway" }, INTERCEPTION_MODE: "NONE" } },
      ip: GW_IP,
      log: () => {},
    });
    await proxy.start();
    await proxy.ready();
  });
  after(async () => {
    await proxy.close();
    await discovery.close();
    for (const b of backends) await b.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("routes to both endpoints once warm", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add((await request(`http://${GW_IP}:8080/old/x`)).body);
    assert.deepEqual([...seen].sort(), ["a", "b"]);
  });

  it("applies a route change and an endpoint removal", async () => {
    replace(dir, "gw.yaml", gateway("/new"));
    await eventually("the new route", async () => (await request(`http://${GW_IP}:8080/new/x`)).status === 200);
    assert.equal((await request(`http://${GW_IP}:8080/old/x`)).status, 404);
    replace(dir, "mesh.yaml", mesh(false));
    await eventually("endpoint b gone", () => proxy.cluster("outbound|8080||web.default.svc.cluster.local")?.hosts().length === 1);
    for (let i = 0; i < 10; i++) assert.equal((await request(`http://${GW_IP}:8080/new/x`)).body, "a");
  });
});
