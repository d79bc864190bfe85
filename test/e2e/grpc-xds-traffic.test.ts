// Traffic management seen by real proxyless gRPC clients: fault abort percentage, retries on
// UNAVAILABLE, ring-hash affinity, locality priorities, endpoints added/removed on the incremental
// (EDS-only) path, and a NACKed resource that leaves the client on its last good config.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { binomialRange } from "../helpers/binomial.js";
import { MeshFixture, clientNode, echoDestinationRule, echoService, echoVirtualService, eventually } from "./helpers.js";

const HOST = "echo.default.svc.cluster.local";
const PORT = 17080;
const TARGET = `xds:///${HOST}:${PORT}`;

function metric(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(name + " ") || l.startsWith(name + "{"));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
}

async function metrics(mesh: MeshFixture): Promise<string> {
  return (await fetch(`${mesh.monitoringUrl}/metrics`)).text();
}

const vs = echoVirtualService;
const dr = (trafficPolicy: string): string => echoDestinationRule(trafficPolicy);

describe("gRPC traffic policies from Istio rules", () => {
  const mesh = new MeshFixture();
  const names = ["echo-a", "echo-b", "echo-c"];
  before(async () => {
    await mesh.start({
      "echo.yaml": echoService(HOST, PORT, [
        ["echo-a", "127.0.32.1", { version: "v1" }],
        ["echo-b", "127.0.32.2", { version: "v1" }],
        ["echo-c", "127.0.32.3", { version: "v1" }],
      ]),
    });
    for (const [i, n] of names.entries()) await mesh.server(n, `127.0.32.${i + 1}`, PORT);
  });
  after(() => mesh.close());

  it("aborts the configured percentage of calls (fault injection)", async () => {
    // 25%, not 50%: a rate read as its complement (75%) would pass at 50%.
    mesh.write("vs.yaml", vs(`  - fault: { abort: { percentage: { value: 25 }, grpcStatus: UNAVAILABLE } }\n    route: [{ destination: { host: echo } }]\n`));
    const c = mesh.client(TARGET, clientNode("fault"));
    // The new client's first config may predate the edit: count only once its fault filter has
    // aborted a call ("Fault injected" is grpc-js's detail for it; no other UNAVAILABLE counts).
    const injected = (e: { code?: number; details?: string }) => e.code === 14 && e.details === "Fault injected";
    await eventually("faults to start", () => c.echo().then(() => false, injected), 30_000);
    const n = 400;
    const counts = await c.tally(n);
    const aborted = counts["error:14"] ?? 0;
    const answered = names.reduce((sum, name) => sum + (counts[name] ?? 0), 0);
    assert.equal(aborted + answered, n, `every call answered by a backend or aborted with UNAVAILABLE: ${JSON.stringify(counts)}`);
    const [lo, hi] = binomialRange(n, 0.25);
    assert.ok(aborted >= lo && aborted <= hi, `aborted ${aborted} of ${n}, expected ${lo}..${hi} (${JSON.stringify(counts)})`);
    mesh.write("vs.yaml", vs(`  - route: [{ destination: { host: echo } }]\n`));
    // 60 calls without an abort while 25% are aborted: 0.75^60 ≈ 3e-8.
    await eventually("faults to stop", async () => (await c.tally(60))["error:14"] === undefined);
  });

  it("retries UNAVAILABLE as many times as the VirtualService allows", async () => {
    for (const s of mesh.servers) s.failFirstPerKey = 3;
    try {
      const c = mesh.client(TARGET, clientNode("retry"));
      // Istio's default policy retries twice: three attempts are not enough.
      mesh.write("vs.yaml", vs(`  - route: [{ destination: { host: echo } }]\n`));
      await assert.rejects(c.echo({ "x-attempt-key": randomUUID() }), (e: { code?: number }) => e.code === 14);
      mesh.write("vs.yaml", vs(`  - retries: { attempts: 4, retryOn: unavailable }\n    route: [{ destination: { host: echo } }]\n`));
      await eventually("4 retries to apply", async () => {
        try {
          return (await c.echo({ "x-attempt-key": randomUUID() })).server;
        } catch {
          return undefined;
        }
      });
      for (let i = 0; i < 20; i++) await c.echo({ "x-attempt-key": randomUUID() });
    } finally {
      for (const s of mesh.servers) s.failFirstPerKey = 0;
    }
  });

  it("keeps a user on one backend with ring hash (consistentHash on a header)", async () => {
    mesh.write("vs.yaml", vs(`  - route: [{ destination: { host: echo } }]\n`));
    mesh.write("dr.yaml", dr(`    loadBalancer: { consistentHash: { httpHeaderName: x-user } }\n`));
    const c = mesh.client(TARGET, clientNode("ringhash"));
    await eventually("ring hash to apply", async () => {
      const t = await c.tally(12, { "x-user": "alice" });
      return Object.keys(t).length === 1;
    });
    const seen = new Set<string>();
    for (let u = 0; u < 30; u++) {
      const t = await c.tally(8, { "x-user": `user-${u}` });
      assert.equal(Object.keys(t).length, 1, `user-${u} spread over ${JSON.stringify(t)}`);
      seen.add(Object.keys(t)[0]);
    }
    assert.ok(seen.size >= 2, `30 users all hashed to ${[...seen]}`);
    mesh.write("dr.yaml", dr(`    loadBalancer: { simple: ROUND_ROBIN }\n`));
  });

  it("a NACKed cluster shows in /debug/syncz, the client keeps its last good config, and the next good version applies", async () => {
    mesh.write("dr.yaml", dr(`    loadBalancer: { simple: ROUND_ROBIN }\n`));
    const node = clientNode("nacker");
    const c = mesh.client(TARGET, node);
    await eventually("round robin over all backends", async () => Object.keys(await c.tally(30, { "x-user": "alice" })).length === 3);
    // gRPC caps rings at 8M entries (Envoy does not): a valid Istio rule the gRPC client must reject.
    mesh.write("dr.yaml", dr(`    loadBalancer: { consistentHash: { httpHeaderName: x-user, ringHash: { minimumRingSize: 10000000 } } }\n`));
    const nack = await eventually("the NACK in /debug/syncz", async () => {
      const syncz = (await (await fetch(`${mesh.monitoringUrl}/debug/syncz`)).json()) as Array<{ proxy: string; types: Record<string, { status: string; nack?: { error: string } }> }>;
      const mine = syncz.find((p) => p.proxy === node.id);
      return mine?.types.cds?.status === "NACKED" ? mine.types.cds.nack : undefined;
    });
    assert.match(nack!.error, /minimum_ring_size/);
    assert.ok(metric(await metrics(mesh), 'pilot_total_xds_rejects{type="cds"}') >= 1);
    // Last good config: round robin still spreads calls over all backends.
    const t = await c.tally(30, { "x-user": "alice" });
    assert.equal(Object.keys(t).filter((k) => k.startsWith("echo-")).length, 3, JSON.stringify(t));
    mesh.write("dr.yaml", dr(`    loadBalancer: { consistentHash: { httpHeaderName: x-user } }\n`));
    await eventually("the fixed rule to apply (ring hash: one backend per user)", async () => Object.keys(await c.tally(12, { "x-user": "alice" })).length === 1);
    const syncz = (await (await fetch(`${mesh.monitoringUrl}/debug/syncz`)).json()) as Array<{ proxy: string; types: Record<string, { status: string }> }>;
    assert.equal(syncz.find((p) => p.proxy === node.id)?.types.cds.status, "SYNCED");
    mesh.write("dr.yaml", dr(`    loadBalancer: { simple: ROUND_ROBIN }\n`));
  });

  it("adds and removes endpoints on the incremental EDS path (no full push)", async () => {
    const c = mesh.client(TARGET, clientNode("eds"));
    await c.tally(6);
    // Let pushes from earlier tests' edits settle before counting.
    const before = await eventually("pushes to settle", async () => {
      const a = await metrics(mesh);
      await new Promise((r) => setTimeout(r, 300));
      const b = await metrics(mesh);
      return metric(a, "pilot_push_full") === metric(b, "pilot_push_full") ? b : undefined;
    });
    const extra = await mesh.server("echo-d", "127.0.32.4", PORT);
    mesh.write(
      "echo-d.yaml",
      `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: echo-d, namespace: default }
spec: { address: 127.0.32.4, labels: { app: echo, version: v1 } }
`,
    );
    await eventually("echo-d to receive traffic", async () => (await c.tally(12))["echo-d"] !== undefined);
    const mid = await metrics(mesh);
    assert.equal(metric(mid, "pilot_push_full"), metric(before, "pilot_push_full"), "adding an endpoint must not cause a full push");
    assert.ok(metric(mid, "pilot_push_eds_incremental") > metric(before, "pilot_push_eds_incremental"));
    const { unlinkSync } = await import("node:fs");
    unlinkSync(`${mesh.dir}/echo-d.yaml`);
    await eventually("echo-d to be removed", async () => {
      const calls = extra.calls;
      await c.tally(12);
      return extra.calls === calls;
    });
    assert.equal(metric(await metrics(mesh), "pilot_push_full"), metric(before, "pilot_push_full"));
  });
});

describe("locality priorities for a client with a locality", () => {
  const mesh = new MeshFixture();
  before(async () => {
    await mesh.start({
      "echo.yaml": echoService(HOST, PORT, [
        ["near", "127.0.33.1", { version: "v1" }, "region1/zone1/sub1"],
        ["zone", "127.0.33.2", { version: "v1" }, "region1/zone1/sub2"],
        ["region", "127.0.33.3", { version: "v1" }, "region1/zone2"],
        ["far", "127.0.33.4", { version: "v1" }, "region2/zone1"],
      ]),
      "dr.yaml": dr(`    outlierDetection: { consecutive5xxErrors: 5, interval: 1s, baseEjectionTime: 30s }\n`),
    });
    await mesh.server("near", "127.0.33.1", PORT);
    await mesh.server("zone", "127.0.33.2", PORT);
    await mesh.server("region", "127.0.33.3", PORT);
    await mesh.server("far", "127.0.33.4", PORT);
  });
  after(() => mesh.close());

  const cases: Array<[string, { region: string; zone?: string; sub_zone?: string }, string]> = [
    ["same subzone", { region: "region1", zone: "zone1", sub_zone: "sub1" }, "near"],
    ["same zone, other subzone (both zone-mates share priority 1)", { region: "region1", zone: "zone1", sub_zone: "sub3" }, "near+zone"],
    ["same region, other zone", { region: "region1", zone: "zone2" }, "region"],
    ["other region", { region: "region2", zone: "zone1" }, "far"],
  ];
  for (const [name, locality, want] of cases) {
    it(`${name} → calls to ${want}`, async () => {
      const c = mesh.client(TARGET, clientNode(`loc-${want}-${locality.zone}-${locality.sub_zone ?? ""}`, locality));
      const t = await c.tally(20);
      assert.deepEqual(Object.keys(t).sort(), want.split("+"), JSON.stringify(t));
    });
  }

  it("fails over to the next priority when the nearest endpoint goes away", async () => {
    const c = mesh.client(TARGET, clientNode("failover", { region: "region1", zone: "zone1", sub_zone: "sub1" }));
    assert.deepEqual(await c.tally(5), { near: 5 });
    await mesh.servers.find((s) => s.opts.name === "near")!.stop();
    const t = await eventually("failover to the same-zone endpoint", async () => {
      const r = await c.tally(10);
      return r.zone === 10 ? r : undefined;
    });
    assert.deepEqual(t, { zone: 10 });
  });
});
