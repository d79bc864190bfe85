// istio.stats config changed at run time over xDS (a Telemetry tag override pushed as a new listener):
// a real proxy keeps the series it recorded with the old tags and adds new ones with the new tags,
// and /stats/prometheus must still read as one family per metric name — one TYPE line, its samples
// together — as Envoy's exposition groups a name's stats whatever their tag sets.
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, before, describe, it } from "node:test";
import { TYPE_PREFIX, type ProtoObject } from "../../../src/envoy/protos.js";
import { AdminServer } from "../../../src/proxy/admin.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { eventually } from "../../helpers/eventually.js";
import { parseExposition } from "../../helpers/prometheus-text.js";
import { fullPush, Harness, snapshot } from "../../xds/server/helpers.js";
import { Backend, request } from "../helpers.js";
import { httpListener, prefixRoute, staticCluster } from "../protocol-helpers.js";

const IP = "127.0.117.1";
const BACKEND_IP = "127.0.117.2";
const PORT = 18117;
const NODE = { NAME: "reviews-v1-abc", NAMESPACE: "default", WORKLOAD_NAME: "reviews-v1", LABELS: { app: "reviews", version: "v1" } };

/** The listener with istio.stats whose requests_total and duration carry `dimensions` as extra tags. */
function statsListener(dimensions: Record<string, string>): ProtoObject {
  const metrics = ["requests_total", "request_duration_milliseconds"].map((name) => ({ name, dimensions }));
  return httpListener("stats-xds", IP, PORT, [prefixRoute("/", "web")], {
    httpFilters: [
      { name: "istio.stats", typedConfig: { "@type": `${TYPE_PREFIX}stats.PluginConfig`, metrics } },
      { name: "envoy.filters.http.router", typedConfig: { "@type": `${TYPE_PREFIX}envoy.extensions.filters.http.router.v3.Router` } },
    ],
  });
}

describe("istio.stats: tags changed over xDS, one Prometheus family per metric name", () => {
  let h: Harness;
  let backend: Backend;
  let proxy: ProxyServer;
  let admin: AdminServer;
  let prom = "";
  const clusters = () => [staticCluster("web", BACKEND_IP, 8080)];

  before(async () => {
    backend = await Backend.start("web", BACKEND_IP, 8080);
    h = await Harness.start();
    h.server.setContext(fullPush(snapshot({ clusters: clusters(), listeners: [statsListener({ x_user: "request.headers['x-user']" })] })));
    proxy = new ProxyServer({ discoveryAddress: `127.0.0.1:${h.port}`, node: { id: "sidecar~127.0.117.1~reviews-v1-abc.default~default.svc.cluster.local", metadata: NODE }, ip: IP, drainMs: 50, log: () => {} });
    await proxy.start();
    await proxy.ready();
    admin = new AdminServer(proxy, { nodeId: "stats-xds", onQuit: () => {} });
    prom = `http://${IP}:${await admin.listenPrometheus(IP, 0)}/stats/prometheus`;
  });
  after(async () => {
    admin.close();
    await proxy.close();
    await h.close();
    await backend.close();
  });

  const scrape = (): Promise<string> =>
    new Promise((resolve, reject) => {
      http.get(prom, { agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve(body));
      }).on("error", reject);
    });

  it("the series of both tag sets are exposed in one family each for the counter and the histogram", async () => {
    assert.equal((await request(`http://${IP}:${PORT}/a`, { headers: { "x-user": "jason" } })).status, 200);
    h.server.push(fullPush(snapshot({ clusters: clusters(), listeners: [statsListener({ x_tier: "'gold'" })] })));
    // The new chain is serving once a request carries the new tag.
    await eventually("a request counted with the new tag", async () => {
      assert.equal((await request(`http://${IP}:${PORT}/b`)).status, 200);
      return /istio_requests_total\{[^}]*x_tier="gold"/.test(await scrape());
    }, 15_000);
    const fams = parseExposition(await scrape());
    const requests = fams.get("istio_requests_total")!;
    assert.equal(requests.type, "counter");
    assert.deepEqual(requests.samples.filter((s) => s.labels.x_user === "jason").map((s) => [s.labels.x_tier, s.value]), [[undefined, 1]]);
    assert.ok(requests.samples.some((s) => s.labels.x_tier === "gold" && s.labels.x_user === undefined));
    const duration = fams.get("istio_request_duration_milliseconds")!;
    assert.equal(duration.type, "histogram");
    const counts = duration.samples.filter((s) => s.name === "istio_request_duration_milliseconds_count");
    assert.ok(counts.some((s) => s.labels.x_user === "jason") && counts.some((s) => s.labels.x_tier === "gold"), "both tag sets in the one histogram family");
  });
});
