// Envoy's warming, observed on a real proxy fed by a real Discovery: an EDS cluster enters service
// only with its endpoints, and a listener is bound only once every route configuration it names
// has arrived. The test watches the proxy's own state changes (no stand-ins for any part).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Discovery } from "../../src/controlplane/discovery.js";
import { proxyNodeId } from "../../src/model/proxy.js";
import type { ListenerSpec } from "../../src/proxy/listener-spec.js";
import { ProxyServer } from "../../src/proxy/proxy.js";
import type { UpstreamCluster } from "../../src/proxy/upstream/cluster.js";
import { examplesMesh } from "./warming-config.js";

describe("warming", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-warming-"));
  let discovery: Discovery;
  let proxy: ProxyServer;
  /** Every cluster put into service, with whether it had its endpoints then. */
  const activated: Array<{ name: string; warmed: boolean; hosts: number }> = [];
  /** Every listener set applied, with the route names the proxy had at that moment. */
  const applied: Array<{ listeners: string[]; routesPresent: string[]; routesNeeded: string[] }> = [];

  before(async () => {
    writeFileSync(join(dir, "mesh.yaml"), examplesMesh);
    discovery = new Discovery({ configPaths: [dir], xdsAddress: "127.0.0.1:0", monitoringAddress: "", log: () => {} });
    const { xdsPort } = await discovery.start();
    proxy = new ProxyServer({
      discoveryAddress: `127.0.0.1:${xdsPort}`,
      node: { id: proxyNodeId("router", "127.0.69.1", "gw", "default"), metadata: { NAMESPACE: "default", LABELS: { istio: "ingressgateway" }, INTERCEPTION_MODE: "NONE" } },
      ip: "127.0.69.1",
      log: () => {},
    });
    const clusters = proxy.clusters;
    const set = clusters.set.bind(clusters);
    clusters.set = (name: string, c: UpstreamCluster) => {
      activated.push({ name, warmed: c.warmed, hosts: c.hosts().length });
      return set(name, c);
    };
    const listeners = proxy.listeners;
    const apply = listeners.apply.bind(listeners);
    listeners.apply = (specs: readonly ListenerSpec[]) => {
      const needed = specs.flatMap((s) => JSON.stringify(s.object).match(/"routeConfigName":"([^"]+)"/g) ?? []).map((m) => m.split('"')[3]);
      applied.push({ listeners: specs.map((s) => s.name), routesPresent: [...proxy.routes.keys()], routesNeeded: needed });
      return apply(specs);
    };
    await proxy.start();
    await proxy.ready();
  });
  after(async () => {
    await proxy.close();
    await discovery.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("puts EDS clusters in service only with their endpoints", () => {
    const eds = activated.filter((a) => a.name.startsWith("outbound|"));
    assert.ok(eds.length >= 2, JSON.stringify(activated));
    for (const a of eds) {
      assert.ok(a.warmed, `${a.name} entered service before its endpoints`);
      assert.ok(a.hosts > 0, `${a.name} entered service with no hosts`);
    }
  });

  it("binds a listener only once its routes are there", () => {
    assert.ok(applied.some((a) => a.listeners.includes("0.0.0.0_8080")), JSON.stringify(applied));
    for (const a of applied) {
      for (const r of a.routesNeeded) assert.ok(a.routesPresent.includes(r), `listener applied before route ${r}: ${JSON.stringify(a)}`);
    }
    assert.ok(proxy.isReady);
  });
});
