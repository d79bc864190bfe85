// proxy-status against a real control plane and a real tsmesh proxy on loopback (127.36.x.y): a
// proxy that rejects a pushed listener shows istiod's ERROR for LDS (statusgen's ConfigStatus after a
// NACK, the rejection's error_detail kept in /debug/syncz) while the types it accepted stay SYNCED;
// ECDS, which tsmesh's proxy never subscribes to (it has no extension config discovery), is IGNORED;
// and a push the proxy accepts again brings LDS back to SYNCED. The command runs as a user runs it,
// finding the mesh through its registry record.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { main } from "../../src/cli/main.js";
import type { SynczEntry } from "../../src/cli/proxy-status.js";
import { Discovery } from "../../src/controlplane/discovery.js";
import { tsmeshVersion } from "../../src/core/tsmesh-version.js";
import { writeMesh } from "../../src/local/registry.js";
import { proxyNodeId } from "../../src/model/proxy.js";
import { ProxyServer } from "../../src/proxy/proxy.js";
import { eventually } from "../helpers/eventually.js";
import { Backend, request } from "../proxy/helpers.js";

const CP = "127.36.0.1";

const mesh = (WEB_IP: string) => `apiVersion: networking.istio.io/v1
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
metadata: {name: web, namespace: default}
spec: {address: ${WEB_IP}, labels: {app: web}}
---
apiVersion: networking.istio.io/v1
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
  http: [{route: [{destination: {host: web.default.svc.cluster.local}}]}]
`;

/** An HTTP filter tsmesh's proxy does not implement (Wasm), inserted before the router: the listener is refused. */
const BAD_FILTER = `apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: wasm-filter, namespace: default}
spec:
  workloadSelector: {labels: {istio: ingressgateway}}
  configPatches:
  - applyTo: HTTP_FILTER
    match:
      context: GATEWAY
      listener:
        filterChain:
          filter:
            name: envoy.filters.network.http_connection_manager
            subFilter: {name: envoy.filters.http.router}
    patch:
      operation: INSERT_BEFORE
      value:
        name: example.wasm
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
          config: {name: example}
`;

async function proxyStatus(stateDir: string): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(["proxy-status", "--state-dir", stateDir], (s) => out.push(s), (s) => err.push(s));
  return { code, out: out.join("\n"), err: err.join("\n") };
}

/** The row of the gateway: its cells split on the table's column gaps. */
function gatewayRow(table: string): Record<string, string> {
  const lines = table.split("\n");
  const head = lines[0].split(/\s{2,}/);
  const row = lines.find((l) => l.startsWith("gw.default"));
  assert.ok(row, table);
  const cells = row.split(/\s{2,}/);
  return Object.fromEntries(head.map((h, i) => [h, cells[i]]));
}

for (const [protocol, n] of [["delta", 1], ["sotw", 2]] as const) describe(`proxy-status with a real proxy that NACKs (${protocol} ADS)`, { timeout: 120_000 }, () => {
  const GW_IP = `127.36.${n}.1`;
  const WEB_IP = `127.36.${n}.2`;
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-ps-nack-"));
  const configDir = join(dir, "config");
  const stateDir = join(dir, "state");
  let discovery: Discovery;
  let proxy: ProxyServer;
  let backend: Backend;
  let monitoring = "";
  const proxyLog: string[] = [];

  before(async () => {
    mkdirSync(configDir);
    writeFileSync(join(configDir, "mesh.yaml"), mesh(WEB_IP));
    backend = await Backend.start("web", WEB_IP, 8080);
    discovery = new Discovery({ configPaths: [configDir], xdsAddress: `${CP}:0`, secureXdsAddress: "", monitoringAddress: `${CP}:0`, debounceQuietMs: 10, log: () => {} });
    const { xdsPort, monitoringPort } = await discovery.start();
    monitoring = `http://${CP}:${monitoringPort}`;
    proxy = new ProxyServer({
      discoveryAddress: `${CP}:${xdsPort}`,
      protocol,
      node: { id: proxyNodeId("router", GW_IP, "gw", "default"), metadata: { NAMESPACE: "default", LABELS: { istio: "ingressgateway" }, INTERCEPTION_MODE: "NONE", ISTIO_VERSION: "1.31.0", CLUSTER_ID: "Kubernetes" } },
      ip: GW_IP,
      log: (l) => proxyLog.push(l),
    });
    await proxy.start();
    await proxy.ready();
    // The registry record `tsmesh up` keeps, so the command finds this control plane.
    writeMesh({ name: "nack-test", pid: process.pid, startedAt: new Date().toISOString(), tsmeshVersion: tsmeshVersion(), stateDir, configDirs: [configDir], apiSocket: join(stateDir, "api.sock"), xds: `${CP}:${xdsPort}`, monitoring, workloads: [] });
  });
  after(async () => {
    await proxy?.close();
    await discovery?.close();
    await backend?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("accepted config: CDS LDS EDS RDS SYNCED, ECDS IGNORED (never subscribed)", async () => {
    assert.equal((await request(`http://${GW_IP}:8080/`)).body, "web");
    const ps = await eventually("every type acked", async () => {
      const r = await proxyStatus(stateDir);
      const row = gatewayRow(r.out);
      return ["CDS", "LDS", "EDS", "RDS"].every((t) => row[t]?.startsWith("SYNCED")) ? r : undefined;
    });
    assert.equal(ps.code, 0, ps.err);
    const row = gatewayRow(ps.out);
    assert.equal(row.ECDS, "IGNORED");
    assert.equal(row.CLUSTER, "Kubernetes");
    assert.equal(row.VERSION, "1.31.0");
    const syncz = (await (await fetch(`${monitoring}/debug/syncz`)).json()) as SynczEntry[];
    const types = syncz.find((e) => e.proxy.startsWith("router~"))!.types;
    assert.equal(Object.values(types).some((t) => t.typeUrl.endsWith("TypedExtensionConfig")), false, "the proxy never asked for ECDS");
  });

  it("a pushed listener the proxy refuses: LDS ERROR with the proxy's reason in syncz, the rest SYNCED, traffic on the last good config", async () => {
    writeFileSync(join(configDir, "filter.yaml"), BAD_FILTER);
    const ps = await eventually("LDS in ERROR", async () => {
      const r = await proxyStatus(stateDir);
      return /^ERROR \(\d+s\)$/.test(gatewayRow(r.out).LDS ?? "") ? r : undefined;
    }, 30_000);
    const row = gatewayRow(ps.out);
    assert.match(row.CDS, /^SYNCED/);
    assert.match(row.RDS, /^SYNCED/);
    assert.equal(row.ECDS, "IGNORED");
    type Syncz = SynczEntry & { types: Record<string, { status?: string; nack?: { error: string }; configStatus?: string; errorState?: { details: string; lastUpdateAttempt: string } }> };
    const syncz = (await (await fetch(`${monitoring}/debug/syncz`)).json()) as Syncz[];
    const types = Object.values(syncz.find((e) => e.proxy.startsWith("router~"))!.types);
    const lds = types.find((t) => t.typeUrl.endsWith("Listener"))!;
    assert.equal(lds.status, "NACKED");
    assert.match(lds.nack!.error, /wasm/i, "the proxy's error_detail, naming what it refused");
    // istiod's GenericXdsConfig fields, as istioctl -o json shows them.
    assert.equal(lds.configStatus, "ERROR");
    assert.equal(lds.errorState?.details, lds.nack!.error);
    assert.ok(!Number.isNaN(Date.parse(lds.errorState!.lastUpdateAttempt)));
    assert.deepEqual(
      types.filter((t) => !t.typeUrl.endsWith("Listener")).map((t) => [t.configStatus, t.errorState]),
      types.filter((t) => !t.typeUrl.endsWith("Listener")).map(() => ["SYNCED", undefined]),
    );
    assert.equal((await request(`http://${GW_IP}:8080/`)).body, "web", "the last good listener still serves");
  });

  it("the refused patch removed: the next push is acked and LDS is SYNCED again", async () => {
    rmSync(join(configDir, "filter.yaml"));
    const ps = await eventually("LDS SYNCED again", async () => {
      const r = await proxyStatus(stateDir);
      return gatewayRow(r.out).LDS?.startsWith("SYNCED") ? r : undefined;
    }, 30_000);
    assert.equal(gatewayRow(ps.out).ECDS, "IGNORED");
  });
});
