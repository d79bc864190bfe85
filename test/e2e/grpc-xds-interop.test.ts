// Proxyless gRPC against two independent implementations: @grpc/grpc-js-xds (in process) and gRPC
// C-core 1.51 through Debian's python3-grpcio (test/fixtures/grpc-python/xds_client.py). Each feature
// runs on both, on the same Istio rules, and each client must ACK every resource (no NACK in
// /debug/syncz): header matches, weights that do not add up to 100, retries, fault injection, ring
// hash on a header and on the source (the channel id), timeouts.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, afterEach, before, describe, it } from "node:test";
import { binomialRange } from "../helpers/binomial.js";
import { DELAY_HEADER, type ProxylessEchoClient } from "../helpers/grpc-echo.js";
import { PythonEchoClient, pythonGrpcVersion, pythonRingHashDefect } from "../helpers/grpc-python.js";
import { assertPresent, skipUnlessPresent } from "../helpers/prereqs.js";
import { MeshFixture, clientNode, echoDestinationRule, echoService, echoVirtualService, eventually, type ProxylessImpl } from "./helpers.js";

const HOST = "echo.default.svc.cluster.local";
const PORT = 17090;
const TARGET = `xds:///${HOST}:${PORT}`;
const BACKENDS: Array<[string, string, string]> = [
  ["echo-a", "127.0.34.1", "v1"],
  ["echo-b", "127.0.34.2", "v2"],
  ["echo-c", "127.0.34.3", "v3"],
];

const PYTHON = "python3-grpcio (gRPC C-core, Debian's /usr/bin/python3)";
const pythonPresent = pythonGrpcVersion() !== undefined;
const IMPLS: Array<[ProxylessImpl, { skip: string | false }]> = [
  ["grpc-js", { skip: false }],
  ["python", { skip: skipUnlessPresent(PYTHON, pythonPresent) }],
];
// Debian 12's python3-grpcio 1.51.1 dies (SIGSEGV) in its ring_hash policy even on a plain service
// config without xDS: its ring-hash calls cannot run; that it ACKs the config is still checked.
const ringHashDefect = pythonPresent ? pythonRingHashDefect() : undefined;
const RING_HASH_CALLS: Array<[ProxylessImpl, { skip: string | false }]> = IMPLS.map(([impl, opts]) => [
  impl,
  { skip: opts.skip || (impl === "python" && ringHashDefect ? ringHashDefect : false) },
]);

const vs = echoVirtualService;
const dr = (trafficPolicy = ""): string => echoDestinationRule(trafficPolicy, ["v1", "v2", "v3"]);

/** Ring-hash services without endpoints: a client ACKs their config but never builds a ring. */
const NO_ENDPOINTS: Record<string, [number, string]> = {
  "rh-header": [17091, "{ httpHeaderName: x-user }"],
  "rh-source": [17092, "{ useSourceIp: true }"],
  // Valid for Istio and Envoy, but past gRPC's 8M-entry cap: every gRPC client must NACK it.
  "rh-huge": [17093, "{ httpHeaderName: x-user, ringHash: { minimumRingSize: 10000000 } }"],
};

const ROUTE_ALL = vs(`  - route: [{ destination: { host: echo } }]\n`);

describe("proxyless gRPC on two implementations (grpc-js-xds, C-core 1.51)", () => {
  const mesh = new MeshFixture();
  let seq = 0;

  before(async () => {
    await mesh.start({
      "echo.yaml": echoService(HOST, PORT, BACKENDS.map(([n, a, v]) => [n, a, { version: v }])),
      "dr.yaml": dr(),
      ...Object.fromEntries(Object.entries(NO_ENDPOINTS).flatMap(([name, [port, hash]]) => [
        [`${name}.yaml`, echoService(`${name}.default.svc.cluster.local`, port, [])],
        [`${name}-dr.yaml`, `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: ${name}, namespace: default }\nspec:\n  host: ${name}\n  trafficPolicy: { loadBalancer: { consistentHash: ${hash} } }\n`],
      ])),
    });
    for (const [n, a] of BACKENDS) await mesh.server(n, a, PORT);
  });
  after(() => mesh.close());
  // A python client is a process: each ends with its test. grpc-js clients stay open until the mesh
  // closes (a grpc-js-xds client closed mid-run leaves an idle xDS connection behind).
  const pythonClients: ProxylessEchoClient[] = [];
  afterEach(() => {
    for (const c of pythonClients.splice(0)) c.close();
  });

  /** A new client (its own node id) on `impl`, once the rules written so far are being served. */
  async function client(impl: ProxylessImpl, what: string, target = TARGET): Promise<{ c: ProxylessEchoClient; nodeId: string }> {
    if (impl === "python") assertPresent(PYTHON, pythonPresent);
    const node = clientNode(`${impl}-${what}-${++seq}`);
    const c = mesh.clientOn(impl, target, node);
    if (impl === "python") pythonClients.push(c);
    return { c, nodeId: node.id };
  }

  /** Every resource type the client was sent is ACKed (a NACK names the type and gRPC's reason). */
  async function assertNoNack(nodeId: string): Promise<void> {
    const syncz = (await (await fetch(`${mesh.monitoringUrl}/debug/syncz`)).json()) as Array<{ proxy: string; types: Record<string, { status: string; nack?: { error: string } }> }>;
    const mine = syncz.find((p) => p.proxy === nodeId);
    assert.ok(mine, `${nodeId} is not connected`);
    for (const [type, s] of Object.entries(mine.types)) assert.notEqual(s.status, "NACKED", `${type} NACKed: ${s.nack?.error}`);
    assert.ok(["lds", "rds", "cds", "eds"].every((t) => mine.types[t]?.status === "SYNCED"), JSON.stringify(mine.types));
  }

  /**
   * Writes the rules and waits until a fresh probe client sees `ready` (so the push has happened).
   * The probe is replaced every 8 s: a grpc-js-xds channel made while a push is in flight has been
   * seen keeping the older config (a client-side race like the xxhash one in test/helpers/grpc-echo.ts);
   * the probe only says the control plane serves the rules — the client under test is still checked.
   */
  async function apply(files: Record<string, string>, ready: (c: ProxylessEchoClient) => Promise<boolean>): Promise<void> {
    for (const [f, y] of Object.entries(files)) mesh.write(f, y);
    let probe = mesh.client(TARGET, clientNode(`probe-${++seq}`));
    let since = Date.now();
    await eventually(
      "the rules to apply",
      () => {
        if (Date.now() - since > 8_000) {
          probe = mesh.client(TARGET, clientNode(`probe-${++seq}`));
          since = Date.now();
        }
        return ready(probe);
      },
      30_000,
      100,
    );
  }

  describe("a NACK from C-core shows in /debug/syncz (the no-NACK checks below can fail)", () => {
    it("python", IMPLS[1][1], async () => {
      const { c, nodeId } = await client("python", "nack", `xds:///rh-huge.default.svc.cluster.local:${NO_ENDPOINTS["rh-huge"][0]}`);
      await c.echo({}, 2000).catch(() => undefined);
      const nack = await eventually("the CDS NACK", async () => {
        const syncz = (await (await fetch(`${mesh.monitoringUrl}/debug/syncz`)).json()) as Array<{ proxy: string; types: Record<string, { status: string; nack?: { error: string } }> }>;
        const cds = syncz.find((p) => p.proxy === nodeId)?.types.cds;
        return cds?.status === "NACKED" ? cds.nack : undefined;
      }, 30_000);
      assert.match(nack?.error ?? "", /ring_size/i);
      await assert.rejects(assertNoNack(nodeId), /cds NACKed/);
    });
  });

  describe("basic routing: a VirtualService sends every call to one subset", () => {
    before(() => apply({ "vs.yaml": vs(`  - route: [{ destination: { host: echo, subset: v2 } }]\n`) }, async (p) => (await p.tally(5))["echo-b"] === 5));
    for (const [impl, opts] of IMPLS) {
      it(impl, opts, async () => {
        const { c, nodeId } = await client(impl, "basic");
        assert.deepEqual(await eventually("calls to v2", async () => ((await c.tally(10))["echo-b"] === 10 ? true : undefined), 30_000), true);
        await assertNoNack(nodeId);
      });
    }
  });

  describe("header-match routing (exact, regex, withoutHeaders: a missing header counts as different)", () => {
    const rules = vs(`  - match: [{ headers: { x-canary: { exact: "yes" } } }]
    route: [{ destination: { host: echo, subset: v3 } }]
  - match: [{ headers: { x-group: { regex: "beta-[0-9]+" } } }, { withoutHeaders: { x-legacy: { exact: "1" } } }]
    route: [{ destination: { host: echo, subset: v2 } }]
  - route: [{ destination: { host: echo, subset: v1 } }]
`);
    const cases: Array<[Record<string, string>, string]> = [
      [{ "x-canary": "yes" }, "echo-c"],
      [{ "x-group": "beta-7", "x-legacy": "1" }, "echo-b"],
      [{}, "echo-b"],
      [{ "x-legacy": "2" }, "echo-b"],
      [{ "x-legacy": "1" }, "echo-a"],
      [{ "x-group": "alpha", "x-legacy": "1" }, "echo-a"],
    ];
    before(() => apply({ "vs.yaml": rules }, async (p) => (await p.tally(3, { "x-canary": "yes" }))["echo-c"] === 3));
    for (const [impl, opts] of IMPLS) {
      it(impl, opts, async () => {
        const { c, nodeId } = await client(impl, "headers");
        await eventually("the header rules", async () => (await c.tally(2, { "x-canary": "yes" }))["echo-c"] === 2, 30_000);
        for (const [md, want] of cases) assert.deepEqual(await c.tally(6, md), { [want]: 6 }, `headers ${JSON.stringify(md)}`);
        await assertNoNack(nodeId);
      });
    }
  });

  describe("weighted clusters whose weights do not add up to 100 (1:3)", () => {
    before(() =>
      apply(
        { "vs.yaml": vs(`  - route:\n    - { destination: { host: echo, subset: v1 }, weight: 1 }\n    - { destination: { host: echo, subset: v3 }, weight: 3 }\n`) },
        async (p) => Object.keys(await p.tally(20)).sort().join() === "echo-a,echo-c",
      ),
    );
    for (const [impl, opts] of IMPLS) {
      it(impl, opts, async () => {
        const { c, nodeId } = await client(impl, "weights");
        await eventually("the split", async () => Object.keys(await c.tally(20)).sort().join() === "echo-a,echo-c", 30_000);
        const t = await c.tally(400);
        assert.equal((t["echo-a"] ?? 0) + (t["echo-c"] ?? 0), 400, JSON.stringify(t));
        assert.ok(Math.abs((t["echo-c"] ?? 0) - 300) <= 40, `v3 got ${t["echo-c"]} of 400, want 300 ± 40`);
        await assertNoNack(nodeId);
      });
    }
  });

  describe("retries: Istio's default two, then the VirtualService's four", () => {
    for (const [impl, opts] of IMPLS) {
      it(impl, opts, async () => {
        for (const s of mesh.servers) s.failFirstPerKey = 3;
        try {
          // Ready when a keyed call fails again: the previous run's four retries would let it through.
          await apply({ "vs.yaml": ROUTE_ALL }, async (p) => {
            if (Object.keys(await p.tally(12)).length !== 3) return false;
            return p.echo({ "x-attempt-key": randomUUID() }).then(
              () => false,
              (e: { code?: number }) => e.code === 14,
            );
          });
          const { c, nodeId } = await client(impl, "retry");
          // Calls without an attempt key never fail: they only wait for the client's xDS resolution.
          await eventually("the client to be configured", async () => (await c.echo()).server, 30_000);
          // Three attempts (one try, two retries) all fail.
          await assert.rejects(c.echo({ "x-attempt-key": randomUUID() }), (e: { code?: number }) => e.code === 14);
          mesh.write("vs.yaml", vs(`  - retries: { attempts: 4, retryOn: unavailable }\n    route: [{ destination: { host: echo } }]\n`));
          await eventually(
            "four retries to apply",
            async () => (await c.echo({ "x-attempt-key": randomUUID() }).catch(() => undefined))?.server,
            30_000,
          );
          for (let i = 0; i < 10; i++) await c.echo({ "x-attempt-key": randomUUID() });
          await assertNoNack(nodeId);
        } finally {
          for (const s of mesh.servers) s.failFirstPerKey = 0;
        }
      });
    }
  });

  describe("fault injection: abort half the calls, delay every call", () => {
    for (const [impl, opts] of IMPLS) {
      it(impl, opts, async () => {
        await apply(
          { "vs.yaml": vs(`  - fault: { abort: { percentage: { value: 50 }, grpcStatus: UNAVAILABLE } }\n    route: [{ destination: { host: echo } }]\n`) },
          async (p) => (await p.tally(20))["error:14"] !== undefined,
        );
        const { c, nodeId } = await client(impl, "fault");
        await eventually("aborts", async () => (await c.tally(20))["error:14"] !== undefined, 30_000);
        const t = await c.tally(300);
        const [lo, hi] = binomialRange(300, 0.5);
        const aborted = t["error:14"] ?? 0;
        assert.ok(aborted >= lo && aborted <= hi, `aborted ${aborted} of 300, expected ${lo}..${hi} (${JSON.stringify(t)})`);
        mesh.write("vs.yaml", vs(`  - fault: { delay: { percentage: { value: 100 }, fixedDelay: 3s } }\n    route: [{ destination: { host: echo } }]\n`));
        // A 3 s injected delay against a 1 s deadline: DEADLINE_EXCEEDED (4), never an answer.
        await eventually("the delay", () => c.echo({}, 1000).then(() => false, (e: { code?: number }) => e.code === 4), 30_000);
        await assert.rejects(c.echo({}, 1000), (e: { code?: number }) => e.code === 4);
        await assertNoNack(nodeId);
      });
    }
  });

  /**
   * The python client ACKs a RING_HASH cluster and the route's hash policy: on a service without
   * endpoints, so that its ring_hash policy never builds a ring (where this build crashes).
   */
  function acksRingHash(service: string): void {
    it("python: ACKs the RING_HASH cluster and the route's hash policy (service without endpoints)", IMPLS[1][1], async () => {
      const { c, nodeId } = await client("python", `ack-${service}`, `xds:///${service}.default.svc.cluster.local:${NO_ENDPOINTS[service][0]}`);
      const [r] = await (c as PythonEchoClient).calls(1, { "x-user": "alice" }, { deadlineMs: 5000 });
      assert.equal(r.code, 14, `no endpoints: UNAVAILABLE (${JSON.stringify(r)})`);
      await assertNoNack(nodeId);
    });
  }

  describe("ring hash on a header: each user sticks to one backend", () => {
    before(() =>
      apply({ "vs.yaml": ROUTE_ALL, "dr.yaml": dr(`    loadBalancer: { consistentHash: { httpHeaderName: x-user } }\n`) }, async (p) => Object.keys(await p.tally(12, { "x-user": "probe" })).length === 1),
    );
    acksRingHash("rh-header");
    for (const [impl, opts] of RING_HASH_CALLS) {
      it(impl, opts, async () => {
        const { c, nodeId } = await client(impl, "ringhash");
        await eventually("ring hash", async () => Object.keys(await c.tally(12, { "x-user": "alice" })).length === 1, 30_000);
        const seen = new Set<string>();
        for (let u = 0; u < 20; u++) {
          const t = await c.tally(8, { "x-user": `user-${u}` });
          assert.equal(Object.keys(t).length, 1, `user-${u} spread over ${JSON.stringify(t)}`);
          seen.add(Object.keys(t)[0]);
        }
        assert.ok(seen.size >= 2, `20 users all hashed to ${[...seen]}`);
        await assertNoNack(nodeId);
      });
    }
  });

  describe("ring hash on the source (useSourceIp → the channel id): each channel sticks to one backend", () => {
    before(() => apply({ "vs.yaml": ROUTE_ALL, "dr.yaml": dr(`    loadBalancer: { consistentHash: { useSourceIp: true } }\n`) }, async (p) => Object.keys(await p.tally(15)).length === 1));
    acksRingHash("rh-source");
    for (const [impl, opts] of RING_HASH_CALLS) {
      it(impl, opts, async () => {
        const { c, nodeId } = await client(impl, "sourceip");
        await eventually("channel affinity", async () => Object.keys(await c.tally(15)).length === 1, 30_000);
        const seen = new Set<string>();
        for (let ch = 0; ch < 10; ch++) {
          const t = await c.tally(12, {}, ch);
          assert.equal(Object.keys(t).length, 1, `channel ${ch} spread over ${JSON.stringify(t)}`);
          seen.add(Object.keys(t)[0]);
        }
        assert.ok(seen.size >= 2, `10 channels all hashed to ${[...seen]}`);
        await assertNoNack(nodeId);
      });
    }
  });

  describe("timeouts: the VirtualService's timeout (max_stream_duration) cuts a slow call", () => {
    // 4 s against an 8 s answer and a 20 s caller deadline: DEADLINE_EXCEEDED proves the route's
    // timeout applied. gRPC Python fires service-config timeouts about 1-1.7 s early (grpc/grpc#34547,
    // reproduced here with 1.51.1), so the timeout is long enough for a quick call to pass anyway.
    const slow = { [DELAY_HEADER]: "8000" };
    const cut = (c: ProxylessEchoClient) => c.echo(slow, 20_000).then(() => false, (e: { code?: number }) => e.code === 4);
    before(() => apply({ "dr.yaml": dr(), "vs.yaml": vs(`  - timeout: 4s\n    route: [{ destination: { host: echo } }]\n`) }, cut));
    for (const [impl, opts] of IMPLS) {
      it(impl, opts, async () => {
        const { c, nodeId } = await client(impl, "timeout");
        assert.ok(await eventually("the timeout", () => cut(c), 60_000));
        assert.match((await c.echo({ [DELAY_HEADER]: "10" }, 20_000)).server, /^echo-/);
        await assertNoNack(nodeId);
      });
    }
  });
});
