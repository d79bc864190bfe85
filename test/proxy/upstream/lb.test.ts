import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { anyOf, CLUSTER_TYPE, ENDPOINT_TYPE } from "../../../src/envoy/protos.js";
import type { Cluster, LeastRequest, ClusterLoadAssignment, HealthStatus, LbEndpoint, LocalityLbEndpoints, Metadata, SocketAddress } from "../../../src/envoy/types.js";
import { combineHash, hashKey, hashKeys, hashToHex, murmurHash2, xxHash64, xxHash64Span } from "../../../src/proxy/upstream/hash.js";
import { type Host, hostsFromClusterLoadAssignment, type HostSet } from "../../../src/proxy/upstream/host.js";
import { createLoadBalancer, type LoadBalancer } from "../../../src/proxy/upstream/lb.js";
import { lbSettings } from "../../../src/proxy/upstream/lb-config.js";
import { XdsConfigError } from "../../../src/proxy/xds-error.js";
import { asDecoded, foreignAny } from "../../helpers/xds.js";

// ---------------------------------------------------------------------------------------------
// helpers

/** mulberry32: a small seeded PRNG returning [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Ep {
  address?: string;
  port: number;
  weight?: number;
  health?: HealthStatus;
  hostname?: string;
  metadata?: Metadata;
}

function lbEndpoint(e: Ep): LbEndpoint {
  const out: LbEndpoint = {
    endpoint: { address: { socketAddress: { address: e.address ?? "127.0.0.1", portValue: e.port } }, ...(e.hostname ? { hostname: e.hostname } : {}) },
  };
  if (e.weight !== undefined) out.loadBalancingWeight = { value: e.weight };
  if (e.health) out.healthStatus = e.health;
  if (e.metadata) out.metadata = e.metadata;
  return out;
}

interface Group {
  priority?: number;
  locality?: { region?: string; zone?: string; subZone?: string };
  weight?: number;
  endpoints: Ep[];
}

function cla(groups: Group[], policy?: ClusterLoadAssignment.Policy): ClusterLoadAssignment {
  const out: ClusterLoadAssignment = {
    clusterName: "outbound|80||svc.default.svc.cluster.local",
    endpoints: groups.map((g) => {
      const l: LocalityLbEndpoints = { lbEndpoints: g.endpoints.map(lbEndpoint) };
      if (g.locality) l.locality = g.locality;
      if (g.weight !== undefined) l.loadBalancingWeight = { value: g.weight };
      if (g.priority) l.priority = g.priority;
      return l;
    }),
  };
  if (policy) out.policy = policy;
  return out;
}

const ports = (...ps: number[]): Ep[] => ps.map((port) => ({ port }));

function sets(c: ClusterLoadAssignment): HostSet[] {
  return hostsFromClusterLoadAssignment(c).priorities;
}

/** A cluster's balancer, its settings compiled as clusterSpec does. */
function balancer(c: Cluster, s: HostSet[], random?: () => number, opts?: Parameters<typeof createLoadBalancer>[3]): LoadBalancer {
  return createLoadBalancer(lbSettings(c), s, random, opts);
}

function tally(lb: LoadBalancer, n: number, ctx?: (i: number) => Parameters<LoadBalancer["pick"]>[0]): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const h = lb.pick(ctx?.(i));
    const k = h ? h.key : "none";
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

function share(m: Map<string, number>, key: string, n: number): number {
  return (m.get(key) ?? 0) / n;
}

function near(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual.toFixed(4)} not within ${tol} of ${expected}`);
}

/** Plain BigInt xxHash64, as the spec writes it, to check the 32-bit-halves implementation. */
function referenceXxh64(bytes: Uint8Array, seed = 0n): bigint {
  const M = (1n << 64n) - 1n;
  const P1 = 0x9e3779b185ebca87n, P2 = 0xc2b2ae3d27d4eb4fn, P3 = 0x165667b19e3779f9n, P4 = 0x85ebca77c2b2ae63n, P5 = 0x27d4eb2f165667c5n;
  const rotl = (x: bigint, r: bigint) => ((x << r) | (x >> (64n - r))) & M;
  const rd = (p: number, n: number) => {
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[p + i]);
    return v;
  };
  const round = (acc: bigint, input: bigint) => (rotl((acc + input * P2) & M, 31n) * P1) & M;
  const n = bytes.length;
  let p = 0;
  let h: bigint;
  if (n >= 32) {
    let v1 = (seed + P1 + P2) & M, v2 = (seed + P2) & M, v3 = seed, v4 = (seed - P1) & M;
    while (p <= n - 32) {
      v1 = round(v1, rd(p, 8));
      v2 = round(v2, rd(p + 8, 8));
      v3 = round(v3, rd(p + 16, 8));
      v4 = round(v4, rd(p + 24, 8));
      p += 32;
    }
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & M;
    for (const v of [v1, v2, v3, v4]) h = (((h ^ round(0n, v)) * P1) + P4) & M;
  } else h = (seed + P5) & M;
  h = (h + BigInt(n)) & M;
  for (; p + 8 <= n; p += 8) h = ((rotl(h ^ round(0n, rd(p, 8)), 27n) * P1) + P4) & M;
  if (p + 4 <= n) {
    h = ((rotl(h ^ ((rd(p, 4) * P1) & M), 23n) * P2) + P3) & M;
    p += 4;
  }
  for (; p < n; p++) h = (rotl(h ^ ((BigInt(bytes[p]) * P5) & M), 11n) * P1) & M;
  h ^= h >> 33n;
  h = (h * P2) & M;
  h ^= h >> 29n;
  h = (h * P3) & M;
  return h ^ (h >> 32n);
}

// ---------------------------------------------------------------------------------------------

describe("hash", () => {
  it("matches Envoy's xxHash64 and MurmurHash2 test vectors", () => {
    const vectors: [string, string, string][] = [
      ["foo", "3728699739546630719", "9631199822919835226"],
      ["bar", "5234164152756840025", "11474628671133349555"],
      ["foo\nbar", "8917841378505826757", "16306510975912980159"],
      ["lyft", "4400747396090729504", "12847078931730529320"],
      ["", "17241709254077376921", "6142509188972423790"],
    ];
    for (const [s, xx, mm] of vectors) {
      assert.equal(xxHash64(s).toString(), xx, `xxHash64(${JSON.stringify(s)})`);
      assert.equal(hashKey(s).toString(), xx);
      assert.equal(murmurHash2(s).toString(), mm, `murmurHash2(${JSON.stringify(s)})`);
    }
    assert.equal(xxHash64Span(["foo", "bar"]).toString(), "17745830980996999794");
  });

  it("equals a reference implementation for all lengths, seeds and UTF-8", () => {
    const r = rng(7);
    for (let len = 0; len < 100; len++) {
      const bytes = new Uint8Array(len);
      for (let i = 0; i < len; i++) bytes[i] = Math.floor(r() * 256);
      const seed = len % 3 === 0 ? 0n : BigInt(Math.floor(r() * 2 ** 32)) * 4294967296n + BigInt(Math.floor(r() * 2 ** 32));
      assert.equal(xxHash64(bytes, seed), referenceXxh64(bytes, seed), `len ${len}`);
    }
    const s = "héllo wörld — ünïcode ключ 键 🔑 ".repeat(3);
    assert.equal(hashKey(s), referenceXxh64(Buffer.from(s, "utf8")));
  });

  it("combines policies and multi-valued headers as Envoy", () => {
    const a = hashKey("a"), b = hashKey("b");
    assert.equal(combineHash(undefined, a), a);
    const rotl = ((a << 1n) | (a >> 63n)) & ((1n << 64n) - 1n);
    assert.equal(combineHash(a, b), rotl ^ b);
    assert.equal(hashKeys(["x", "y"]), hashKeys(["y", "x"]));
    assert.equal(hashKeys(["x"]), hashKey("x"));
    assert.equal(hashToHex(1n), "0000000000000001");
  });
});

describe("hostsFromClusterLoadAssignment", () => {
  it("builds priorities, localities and hosts from the control plane's golden assignments", () => {
    const dir = new URL("../../../../test/xds/gen/testdata/", import.meta.url);
    for (const file of ["endpoints-locality.json", "endpoints-bookinfo-reviews.json"]) {
      const all = JSON.parse(readFileSync(new URL(file, dir), "utf8")) as Record<string, ClusterLoadAssignment>;
      for (const [name, c] of Object.entries(all)) {
        const { priorities, byKey } = hostsFromClusterLoadAssignment(c, undefined, { requireIp: true });
        const expected = (c.endpoints ?? []).reduce((n, g) => n + (g.lbEndpoints ?? []).length, 0);
        assert.equal(byKey.size, expected, `${file} ${name}`);
        for (const set of priorities) {
          assert.equal(set.overprovisioningFactor, 140);
          assert.equal(set.localities.reduce((n, l) => n + l.hosts.length, 0), set.hosts.length);
        }
      }
    }
    const all = JSON.parse(readFileSync(new URL("endpoints-locality.json", dir), "utf8")) as Record<string, ClusterLoadAssignment>;
    const failover = hostsFromClusterLoadAssignment(all["echo-failover"]).priorities;
    assert.deepEqual(failover.map((s) => s.hosts.length), [2, 1, 1, 1, 1]);
    const echo = hostsFromClusterLoadAssignment(all.echo).priorities[0];
    const sub1 = echo.localities.find((l) => l.localityKey === "us-east/zone1/sub1");
    assert.equal(sub1?.weight, 4);
    assert.deepEqual(sub1?.hosts.map((h) => [h.key, h.weight]), [["10.1.0.1:8080", 1], ["10.1.0.2:8080", 3]]);
  });

  it("reads health, metadata, hostnames, gaps in priorities and the overprovisioning factor", () => {
    const md = { filterMetadata: { "envoy.lb": { fields: { hash_key: { stringValue: "hk-1" } } } } };
    const { priorities, byKey } = hostsFromClusterLoadAssignment(
      cla(
        [
          { endpoints: [{ port: 1, health: "DEGRADED", hostname: "a.example", metadata: md }, { port: 2, health: "DRAINING" }] },
          { priority: 2, endpoints: [{ address: "0:0:0:0:0:0:0:1", port: 3 }] },
        ],
        { overprovisioningFactor: { value: 100 } },
      ),
    );
    assert.equal(priorities.length, 3);
    assert.equal(priorities[1].hosts.length, 0);
    assert.equal(priorities[0].overprovisioningFactor, 100);
    const a = byKey.get("127.0.0.1:1")!;
    assert.equal(a.healthStatus, "DEGRADED");
    assert.equal(a.degraded, true);
    assert.equal(a.healthy, false);
    assert.equal(a.hostname, "a.example");
    assert.equal(a.metadataHashKey, "hk-1");
    assert.equal(byKey.get("127.0.0.1:2")!.healthy, false);
    assert.equal(byKey.get("127.0.0.1:2")!.healthFlags, "/failed_eds_health");
    assert.ok(byKey.has("[::1]:3"), "IPv6 keys are canonical and bracketed");
  });

  it("reuses Host objects by address so counters and ejection survive updates", () => {
    const first = hostsFromClusterLoadAssignment(cla([{ endpoints: [{ port: 1 }, { port: 2 }, { port: 3 }] }]));
    const h1 = first.byKey.get("127.0.0.1:1")!;
    const h2 = first.byKey.get("127.0.0.1:2")!;
    h1.activeRequests = 5;
    h1.activeConnections = 2;
    h2.ejected = true;
    const second = hostsFromClusterLoadAssignment(
      cla([{ locality: { zone: "z" }, endpoints: [{ port: 1, weight: 7 }, { port: 2 }, { port: 4 }] }]),
      first.byKey,
    );
    assert.equal(second.byKey.get("127.0.0.1:1"), h1);
    assert.equal(second.byKey.get("127.0.0.1:2"), h2);
    assert.equal(h1.activeRequests, 5);
    assert.equal(h1.activeConnections, 2);
    assert.equal(h1.weight, 7);
    assert.equal(h1.localityKey, "/z/");
    assert.equal(h2.ejected, true);
    assert.equal(second.byKey.has("127.0.0.1:3"), false);
    assert.notEqual(second.byKey.get("127.0.0.1:4"), undefined);
    // Duplicate addresses: the first occurrence wins.
    const dup = hostsFromClusterLoadAssignment(cla([{ endpoints: [{ port: 1, weight: 2 }] }, { priority: 1, endpoints: [{ port: 1 }] }]));
    assert.equal(dup.byKey.size, 1);
    assert.equal(dup.priorities[1].hosts.length, 0);
  });

  it("rejects bad assignments with a field path", () => {
    const sa = (socketAddress: SocketAddress): ClusterLoadAssignment => ({ endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress } } }] }] });
    const P = "endpoints[0].lbEndpoints[0]";
    const cases: [string, ClusterLoadAssignment, string, RegExp, { requireIp?: boolean }?][] = [
      ["no address", sa({ portValue: 80 }), `${P}.endpoint.address.socketAddress.address`, /needs an address/],
      ["no endpoint address", { endpoints: [{ lbEndpoints: [{ endpoint: {} }] }] }, `${P}.endpoint.address`, /needs an address/],
      ["port out of range", sa({ address: "10.0.0.1", portValue: 70000 }), `${P}.endpoint.address.socketAddress.portValue`, /out of range/],
      ["no port", sa({ address: "10.0.0.1" }), `${P}.endpoint.address.socketAddress.portValue`, /out of range/],
      ["named port", sa({ address: "10.0.0.1", namedPort: "http" }), `${P}.endpoint.address.socketAddress.namedPort`, /not supported/],
      ["pipe", { endpoints: [{ lbEndpoints: [{ endpoint: { address: { pipe: { path: "/var/run/someuds.sock" } } } }] }] }, `${P}.endpoint.address.pipe`, /not supported/],
      ["not an IP", sa({ address: "svc.example", portValue: 80 }), `${P}.endpoint.address.socketAddress.address`, /malformed IP address/, { requireIp: true }],
      ["bad host name", sa({ address: "bad name!", portValue: 80 }), `${P}.endpoint.address.socketAddress.address`, /invalid host name/],
      [
        "zero endpoint weight",
        { endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: "10.0.0.1", portValue: 80 } } }, loadBalancingWeight: {} }] }] },
        `${P}.loadBalancingWeight`,
        /greater than or equal to 1/,
      ],
      ["zero locality weight", { endpoints: [{ loadBalancingWeight: {}, lbEndpoints: [] }] }, "endpoints[0].loadBalancingWeight", /greater than or equal to 1/],
      ["priority too high", { endpoints: [{ priority: 129, lbEndpoints: [] }] }, "endpoints[0].priority", /between 0 and 128/],
      ["zero overprovisioning", { policy: { overprovisioningFactor: {} }, endpoints: [] }, "policy.overprovisioningFactor", /greater than 0/],
      [
        "unknown health status",
        // Only the decoders give an enum value the schema lacks (as its number), so the literal is untyped.
        asDecoded<ClusterLoadAssignment>(ENDPOINT_TYPE, { endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: "10.0.0.1", portValue: 80 } } }, healthStatus: 9 }] }] }),
        `${P}.healthStatus`,
        /unknown health status 9/,
      ],
      ["unknown named endpoint", { endpoints: [{ lbEndpoints: [{ endpointName: "x" }] }] }, `${P}.endpointName`, /unknown named endpoint/],
      ["a name Object.prototype has", { namedEndpoints: {}, endpoints: [{ lbEndpoints: [{ endpointName: "constructor" }] }] }, `${P}.endpointName`, /unknown named endpoint/],
      ["drop overloads", { policy: { dropOverloads: [{ category: "throttle", dropPercentage: { numerator: 10 } }] }, endpoints: [] }, "policy.dropOverloads", /not implemented/],
      ["stale endpoints", { policy: { endpointStaleAfter: { seconds: 5 } }, endpoints: [] }, "policy.endpointStaleAfter", /not implemented/],
      ["LEDS", { endpoints: [{ ledsClusterLocalityConfig: { ledsCollectionName: "x" } }] }, "endpoints[0].ledsClusterLocalityConfig", /LEDS is not implemented/],
      ["load_balancer_endpoints", { endpoints: [{ loadBalancerEndpoints: { lbEndpoints: [] } }] }, "endpoints[0].loadBalancerEndpoints", /use lb_endpoints/],
      [
        "additional addresses",
        { endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: "10.0.0.1", portValue: 80 } }, additionalAddresses: [{ address: { socketAddress: { address: "::1", portValue: 80 } } }] } }] }] },
        `${P}.endpoint.additionalAddresses`,
        /not implemented/,
      ],
    ];
    for (const [what, c, path, msg, opts] of cases) {
      assert.throws(
        () => hostsFromClusterLoadAssignment(c, undefined, opts),
        (e: unknown) => e instanceof XdsConfigError && e.path === path && msg.test(e.message) && e.message.startsWith(`${path}: `),
        what,
      );
    }
    // Named endpoints resolve.
    const named = hostsFromClusterLoadAssignment({
      namedEndpoints: { a: { address: { socketAddress: { address: "10.0.0.9", portValue: 9 } } } },
      endpoints: [{ lbEndpoints: [{ endpointName: "a" }] }],
    });
    assert.ok(named.byKey.has("10.0.0.9:9"));
  });
});

describe("load balancer config", () => {
  it("reads Envoy's defaults and the Istio-emitted fields", () => {
    const d = lbSettings({});
    assert.equal(d.policy, "ROUND_ROBIN");
    assert.equal(d.healthyPanicThreshold, 50);
    assert.equal(d.minimumRingSize, 1024);
    assert.equal(d.tableSize, 65537);
    assert.equal(d.choiceCount, 2);
    // Istio writes healthyPanicThreshold {} (0%) with outlier detection: panic disabled.
    const istio = lbSettings({ lbPolicy: "LEAST_REQUEST", commonLbConfig: { healthyPanicThreshold: {}, localityWeightedLbConfig: {} } });
    assert.equal(istio.healthyPanicThreshold, 0);
    assert.equal(istio.localityWeighted, true);
    const lr = lbSettings({ lbPolicy: "LEAST_REQUEST", leastRequestLbConfig: { choiceCount: { value: 3 }, activeRequestBias: { defaultValue: 0.5 } } });
    assert.equal(lr.choiceCount, 3);
    assert.equal(lr.activeRequestBias, 0.5);
    const ss = lbSettings({ roundRobinLbConfig: { slowStartConfig: { slowStartWindow: { seconds: 30 }, aggression: { defaultValue: 2 }, minWeightPercent: { value: 20 } } } });
    assert.deepEqual(ss.slowStart, { windowMs: 30000, aggression: 2, minWeight: 0.2 });
    const ext = lbSettings({
      loadBalancingPolicy: {
        policies: [
          { typedExtensionConfig: { typedConfig: foreignAny("type.googleapis.com/envoy.extensions.load_balancing_policies.pick_first.v3.PickFirst") } },
          {
            typedExtensionConfig: {
              typedConfig: { "@type": "type.googleapis.com/envoy.extensions.load_balancing_policies.maglev.v3.Maglev", tableSize: { value: 7 } },
            },
          },
        ],
      },
    });
    assert.equal(ext.policy, "MAGLEV");
    assert.equal(ext.tableSize, 7);
    // The ring_hash extension's DEFAULT_HASH is xxHash; its locality config's zone-aware fail_traffic_on_panic applies.
    const ring = lbSettings({
      loadBalancingPolicy: { policies: [{ typedExtensionConfig: { typedConfig: anyOf("envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash", { hashFunction: "DEFAULT_HASH", minimumRingSize: { value: 64 } }) } }] },
    });
    assert.equal(ring.policy, "RING_HASH");
    assert.equal(ring.hashFunction, "XX_HASH");
    assert.equal(ring.minimumRingSize, 64);
    const rr = lbSettings({
      loadBalancingPolicy: {
        policies: [{ typedExtensionConfig: { typedConfig: anyOf("envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin", { localityLbConfig: { zoneAwareLbConfig: { failTrafficOnPanic: true } } }) } }],
      },
    });
    assert.equal(rr.failTrafficOnPanic, true);
    assert.equal(rr.localityWeighted, false);
  });

  it("rejects bad config with a field path", () => {
    const lr = (fields: LeastRequest): Cluster => ({ loadBalancingPolicy: { policies: [{ typedExtensionConfig: { typedConfig: anyOf("envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest", fields) } }] } });
    const LR = "loadBalancingPolicy.policies[0].typedExtensionConfig.typedConfig";
    const cases: [string, Cluster, string, RegExp][] = [
      ["ring bounds", { lbPolicy: "RING_HASH", ringHashLbConfig: { minimumRingSize: { value: 20 }, maximumRingSize: { value: 10 } } }, "ringHashLbConfig", /minimum_ring_size \(20\) > maximum_ring_size \(10\)/],
      ["ring too big", { lbPolicy: "RING_HASH", ringHashLbConfig: { minimumRingSize: { value: 9000000 } } }, "ringHashLbConfig.minimumRingSize", /less than or equal/],
      ["maglev not prime", { lbPolicy: "MAGLEV", maglevLbConfig: { tableSize: { value: 8 } } }, "maglevLbConfig.tableSize", /prime/],
      ["choice count", { lbPolicy: "LEAST_REQUEST", leastRequestLbConfig: { choiceCount: { value: 1 } } }, "leastRequestLbConfig.choiceCount", /greater than or equal to 2/],
      ["negative bias", { lbPolicy: "LEAST_REQUEST", leastRequestLbConfig: { activeRequestBias: { defaultValue: -1 } } }, "leastRequestLbConfig.activeRequestBias.defaultValue", /0\.0/],
      ["panic threshold", { commonLbConfig: { healthyPanicThreshold: { value: 150 } } }, "commonLbConfig.healthyPanicThreshold.value", /between 0 and 100/],
      ["cluster provided", { lbPolicy: "CLUSTER_PROVIDED" }, "lbPolicy", /ORIGINAL_DST/],
      // Only the decoders give an enum value the schema lacks (as its number).
      ["unknown", asDecoded<Cluster>(CLUSTER_TYPE, { lbPolicy: 99 }), "lbPolicy", /unsupported load balancing policy 99/],
      ["named", asDecoded<Cluster>(CLUSTER_TYPE, { name: "c1", lbPolicy: 99 }), "cluster c1: lbPolicy", /unsupported/],
      ["unknown hash function", asDecoded<Cluster>(CLUSTER_TYPE, { lbPolicy: "RING_HASH", ringHashLbConfig: { hashFunction: 7 } }), "ringHashLbConfig.hashFunction", /unknown hash function 7/],
      ["no supported extension", { loadBalancingPolicy: { policies: [{ typedExtensionConfig: { typedConfig: foreignAny("x") } }] } }, "loadBalancingPolicy.policies", /none/],
      ["no policies", { loadBalancingPolicy: {} }, "loadBalancingPolicy.policies", /at least one/],
      ["full scan", lr({ enableFullScan: { value: true } }), `${LR}.enableFullScan`, /not implemented/],
      ["full scan selection", lr({ selectionMethod: "FULL_SCAN" }), `${LR}.selectionMethod`, /not implemented/],
      ["NaN bias", asDecoded<Cluster>(CLUSTER_TYPE, { lbPolicy: "LEAST_REQUEST", leastRequestLbConfig: { activeRequestBias: { defaultValue: NaN } } }), "leastRequestLbConfig.activeRequestBias.defaultValue", /invalid number "NaN"/],
    ];
    for (const [what, c, path, msg] of cases) {
      assert.throws(
        () => balancer(c, []),
        (e: unknown) => e instanceof XdsConfigError && e.path === path && msg.test(e.message),
        what,
      );
    }
  });
});

describe("ROUND_ROBIN", () => {
  it("cycles through equal-weight hosts in order", () => {
    const s = sets(cla([{ endpoints: ports(1, 2, 3) }]));
    const lb = balancer({}, s, () => 0);
    const order = Array.from({ length: 7 }, () => lb.pick()?.port);
    assert.deepEqual(order, [1, 2, 3, 1, 2, 3, 1]);
    // Another start point (random seed), same cycle.
    const lb2 = balancer({}, s, rng(3));
    const first = lb2.pick()!.port;
    const rest = Array.from({ length: 5 }, () => lb2.pick()!.port);
    assert.deepEqual(rest, [1, 2, 3, 1, 2].map((_, i) => ((first - 1 + i + 1) % 3) + 1));
  });

  it("follows weights with the EDF scheduler", () => {
    const s = sets(cla([{ endpoints: [{ port: 1, weight: 1 }, { port: 2, weight: 2 }, { port: 3, weight: 7 }] }]));
    const lb = balancer({}, s, rng(1));
    const n = 10_000;
    const m = tally(lb, n);
    near(share(m, "127.0.0.1:1", n), 0.1, 0.005, "w1");
    near(share(m, "127.0.0.1:2", n), 0.2, 0.005, "w2");
    near(share(m, "127.0.0.1:3", n), 0.7, 0.005, "w7");
    // Smooth: the heavy host never runs more than ceil(7/3)+1 picks in a row.
    let run = 0, maxRun = 0;
    for (let i = 0; i < 1000; i++) {
      run = lb.pick()!.port === 3 ? run + 1 : 0;
      maxRun = Math.max(maxRun, run);
    }
    assert.ok(maxRun <= 4, `max run ${maxRun}`);
  });

  it("skips hosts as soon as they are ejected, and returns them when they come back", () => {
    const s = sets(cla([{ endpoints: ports(1, 2, 3, 4) }]));
    const lb = balancer({}, s, rng(2));
    const h2 = s[0].hosts[1];
    h2.ejected = true;
    assert.ok(!tally(lb, 100).has(h2.key));
    h2.ejected = false;
    assert.equal(tally(lb, 100).get(h2.key), 25);
  });

  it("re-picks with the previous_hosts predicate", () => {
    const s = sets(cla([{ endpoints: ports(1, 2, 3) }]));
    const lb = balancer({}, s, () => 0);
    const tried = new Set<Host>([s[0].hosts[0], s[0].hosts[1]]);
    const h = lb.pick({ retryExclude: (x) => tried.has(x), hostSelectionRetryMaxAttempts: 5 });
    assert.equal(h?.port, 3);
    // When every attempt is rejected, the last pick is used.
    assert.ok(lb.pick({ retryExclude: () => true }));
  });

  it("ramps new hosts up during slow start", () => {
    let now = 1_000_000;
    const s = sets(cla([{ endpoints: ports(1, 2, 3) }]));
    for (const h of s[0].hosts) h.lastHcPassTime = 0;
    s[0].hosts[2].lastHcPassTime = now - 1000; // 1 s into a 10 s window: 10% of its weight
    const cfg = { roundRobinLbConfig: { slowStartConfig: { slowStartWindow: { seconds: 10 } } } };
    const lb = balancer(cfg, s, rng(4), { now: () => now });
    const n = 4200;
    near(share(tally(lb, n), "127.0.0.1:3", n), 0.1 / 2.1, 0.01, "slow-starting host");
    now += 20_000; // window over: plain round robin again
    assert.equal(tally(lb, 300).get("127.0.0.1:3"), 100);
  });
});

describe("LEAST_REQUEST", () => {
  it("prefers less loaded hosts (power of two choices)", () => {
    const s = sets(cla([{ endpoints: ports(1, 2, 3) }]));
    s[0].hosts[0].activeRequests = 10;
    const lb = balancer({ lbPolicy: "LEAST_REQUEST" }, s, rng(5));
    const n = 10_000;
    const m = tally(lb, n);
    // The busy host wins only when both choices are it: 1/9.
    near(share(m, "127.0.0.1:1", n), 1 / 9, 0.02, "busy");
    near(share(m, "127.0.0.1:2", n), 4 / 9, 0.02, "idle");
    // With more choices, the busy host is picked even less.
    const lb3 = balancer({ lbPolicy: "LEAST_REQUEST", leastRequestLbConfig: { choiceCount: { value: 4 } } }, s, rng(5));
    assert.ok(share(tally(lb3, n), "127.0.0.1:1", n) < 0.03);
  });

  it("divides weights by active requests when weights differ", () => {
    const s = sets(cla([{ endpoints: [{ port: 1, weight: 2 }, { port: 2, weight: 1 }] }]));
    s[0].hosts[0].activeRequests = 3; // 2 / (3+1) = 0.5 vs 1 / 1
    const lb = balancer({ lbPolicy: "LEAST_REQUEST" }, s, rng(6));
    const n = 9000;
    near(share(tally(lb, n), "127.0.0.1:2", n), 2 / 3, 0.01, "less loaded host");
    const noBias = balancer({ lbPolicy: "LEAST_REQUEST", leastRequestLbConfig: { activeRequestBias: {} } }, s, rng(6));
    near(share(tally(noBias, n), "127.0.0.1:1", n), 2 / 3, 0.01, "bias 0: weights only");
  });
});

describe("RANDOM", () => {
  it("is roughly uniform and ignores weights", () => {
    const s = sets(cla([{ endpoints: [{ port: 1, weight: 5 }, { port: 2 }, { port: 3 }, { port: 4 }] }]));
    const lb = balancer({ lbPolicy: "RANDOM" }, s, rng(8));
    const n = 10_000;
    const m = tally(lb, n);
    for (let p = 1; p <= 4; p++) near(share(m, `127.0.0.1:${p}`, n), 0.25, 0.025, `host ${p}`);
  });
});

describe("RING_HASH and MAGLEV", () => {
  const six = (base: number) => sets(cla([{ endpoints: ports(base, base + 1, base + 2, base + 3, base + 4, base + 5) }]));

  it("build the same ring and table as Envoy", () => {
    // Envoy's ring_hash_lb_test Basic: 127.0.0.1:90..95, minimum ring size 12.
    let lb = balancer({ lbPolicy: "RING_HASH", ringHashLbConfig: { minimumRingSize: { value: 12 } } }, six(90));
    const max = (1n << 64n) - 1n;
    assert.deepEqual(
      [0n, max, 3551244743356806947n, 3551244743356806948n, 16117243373044804880n].map((hash) => lb.pick({ hash })?.port),
      [94, 94, 95, 93, 90],
    );
    // BasicWithMurmur2: 127.0.0.1:80..85.
    lb = balancer({ lbPolicy: "RING_HASH", ringHashLbConfig: { minimumRingSize: { value: 12 }, hashFunction: "MURMUR_HASH_2" } }, six(80));
    assert.deepEqual(
      [0n, max, 1358027074129602068n, 1358027074129602069n, 10150910876324007730n].map((hash) => lb.pick({ hash })?.port),
      [85, 85, 85, 83, 82],
    );
    // maglev_lb_test Basic: table size 7.
    lb = balancer({ lbPolicy: "MAGLEV", maglevLbConfig: { tableSize: { value: 7 } } }, six(90));
    assert.deepEqual(
      Array.from({ length: 14 }, (_, i) => lb.pick({ hash: i })?.port),
      [92, 94, 90, 91, 95, 90, 93, 92, 94, 90, 91, 95, 90, 93],
    );
    // BasicWithHostName: hashing host names "90".."95".
    const named = sets(cla([{ endpoints: [90, 91, 92, 93, 94, 95].map((p) => ({ port: p, hostname: String(p) })) }]));
    lb = balancer({ lbPolicy: "MAGLEV", maglevLbConfig: { tableSize: { value: 7 } }, commonLbConfig: { consistentHashingLbConfig: { useHostnameForHashing: true } } }, named);
    assert.deepEqual(Array.from({ length: 7 }, (_, i) => lb.pick({ hash: i })?.port), [92, 95, 90, 93, 94, 91, 90]);
  });

  for (const policy of ["RING_HASH", "MAGLEV"] as const) {
    it(`${policy}: same key same host, keys spread, little disruption when a host leaves`, () => {
      const ten = Array.from({ length: 10 }, (_, i) => ({ address: `10.0.0.${i + 1}`, port: 8080 }));
      const first = hostsFromClusterLoadAssignment(cla([{ endpoints: ten }]));
      const lb = balancer({ lbPolicy: policy }, first.priorities);
      const keys = Array.from({ length: 5000 }, (_, i) => hashKey(`user-${i}`));
      const before = keys.map((hash) => lb.pick({ hash })!);
      keys.forEach((hash, i) => assert.equal(lb.pick({ hash }), before[i]));
      const per = new Map<Host, number>();
      for (const h of before) per.set(h, (per.get(h) ?? 0) + 1);
      assert.equal(per.size, 10);
      for (const c of per.values()) assert.ok(c > 5000 * 0.05 && c < 5000 * 0.16, `share ${c / 5000}`);

      const removed = first.byKey.get("10.0.0.4:8080")!;
      const second = hostsFromClusterLoadAssignment(cla([{ endpoints: ten.filter((e) => e.address !== "10.0.0.4") }]), first.byKey);
      const lb2 = balancer({ lbPolicy: policy }, second.priorities);
      let kept = 0, stayedOnRemaining = 0, others = 0;
      keys.forEach((hash, i) => {
        const h = lb2.pick({ hash })!;
        assert.notEqual(h, removed);
        if (h === before[i]) kept++;
        if (before[i] !== removed) {
          others++;
          if (h === before[i]) stayedOnRemaining++;
        }
      });
      // The removed host's keys (~10%) move; a few more move with the ring's rescaling
      // (hashes per host grow from 103 to 114) or Maglev's table refill.
      assert.ok(kept / keys.length > 0.75, `kept ${kept / keys.length}`);
      assert.ok(stayedOnRemaining / others > 0.85, `kept on remaining hosts ${stayedOnRemaining / others}`);
    });
  }

  it("move to another host on retries and skip unhealthy hosts", () => {
    for (const policy of ["RING_HASH", "MAGLEV"] as const) {
      const s = six(90);
      const lb = balancer({ lbPolicy: policy }, s);
      let moved = 0;
      for (let i = 0; i < 200; i++) {
        const hash = hashKey(`k${i}`);
        const h = lb.pick({ hash })!;
        const retry = lb.pick({ hash, retryExclude: (x) => x === h, hostSelectionRetryMaxAttempts: 10 })!;
        if (retry !== h) moved++;
      }
      assert.equal(moved, 200, policy);
      // An ejected host gets no keys (5 of 6 healthy: no panic).
      s[0].hosts[2].ejected = true;
      for (let i = 0; i < 300; i++) assert.notEqual(lb.pick({ hash: hashKey(`k${i}`) }), s[0].hosts[2]);
      s[0].hosts[2].ejected = false;
    }
  });

  it("fold locality weights into the ring", () => {
    const s = sets(
      cla([
        { locality: { zone: "a" }, weight: 1, endpoints: ports(1, 2) },
        { locality: { zone: "b" }, weight: 3, endpoints: ports(3, 4) },
      ]),
    );
    const lb = balancer({ lbPolicy: "RING_HASH", commonLbConfig: { localityWeightedLbConfig: {} } }, s);
    let a = 0;
    const n = 4000;
    for (let i = 0; i < n; i++) if (lb.pick({ hash: hashKey(`u${i}`) })!.localityKey === "/a/") a++;
    near(a / n, 0.25, 0.05, "locality a");
  });

  it("pick randomly without a hash", () => {
    const lb = balancer({ lbPolicy: "MAGLEV" }, six(90), rng(9));
    assert.equal(tally(lb, 600).size, 6);
  });
});

describe("priorities", () => {
  const twoPriorities = () => sets(cla([{ endpoints: ports(1, 2) }, { priority: 1, endpoints: ports(3, 4) }]));

  it("send everything to P0 while it is healthy, and spill over with the overprovisioning factor", () => {
    const s = twoPriorities();
    const lb = balancer({}, s, rng(10));
    assert.deepEqual(lb.priorityLoad().healthy, [100, 0]);
    const all = tally(lb, 1000);
    assert.equal((all.get("127.0.0.1:1") ?? 0) + (all.get("127.0.0.1:2") ?? 0), 1000);

    s[0].hosts[1].ejected = true; // P0 50% healthy × 1.4 = 70%
    assert.deepEqual(lb.priorityLoad(), { healthy: [70, 30], degraded: [0, 0], panic: [false, false] });
    const n = 10_000;
    const m = tally(lb, n);
    near(share(m, "127.0.0.1:1", n), 0.7, 0.02, "P0");
    near(share(m, "127.0.0.1:3", n) + share(m, "127.0.0.1:4", n), 0.3, 0.02, "P1");
    assert.equal(m.get("127.0.0.1:2"), undefined);

    s[0].hosts[0].ejected = true; // P0 gone
    assert.deepEqual(lb.priorityLoad().healthy, [0, 100]);
    s[0].hosts[0].ejected = false;
    s[0].hosts[1].ejected = false;
  });

  it("hash policies keep a key's priority and follow the same loads", () => {
    const s = twoPriorities();
    s[0].hosts[1].healthStatus = "UNHEALTHY";
    const lb = balancer({ lbPolicy: "RING_HASH" }, s);
    let p0 = 0;
    const n = 5000;
    for (let i = 0; i < n; i++) {
      const hash = hashKey(`key-${i}`);
      const h = lb.pick({ hash })!;
      assert.equal(lb.pick({ hash }), h);
      if (h.priority === 0) p0++;
    }
    near(p0 / n, 0.7, 0.03, "P0 share of keys");
  });

  it("use the overprovisioning factor and weighted priority health from the assignment", () => {
    const s = sets(cla([{ endpoints: [{ port: 1, weight: 3 }, { port: 2 }] }, { priority: 1, endpoints: ports(3) }], { overprovisioningFactor: { value: 100 } }));
    s[0].hosts[1].ejected = true;
    const lb = balancer({}, s, rng(11));
    assert.deepEqual(lb.priorityLoad().healthy, [50, 50]);
    const w = sets(cla([{ endpoints: [{ port: 1, weight: 3 }, { port: 2 }] }, { priority: 1, endpoints: ports(3) }], { overprovisioningFactor: { value: 100 }, weightedPriorityHealth: true }));
    w[0].hosts[1].ejected = true;
    assert.deepEqual(balancer({}, w, rng(11)).priorityLoad().healthy, [75, 25]);
  });

  it("use degraded hosts only when healthy ones are not enough", () => {
    const s = sets(cla([{ endpoints: [{ port: 1, health: "DEGRADED" }, { port: 2, health: "DEGRADED" }] }, { priority: 1, endpoints: ports(3) }]));
    const lb = balancer({}, s, rng(12));
    assert.deepEqual(lb.priorityLoad(), { healthy: [0, 100], degraded: [0, 0], panic: [false, false] });
    s[1].hosts[0].ejected = true;
    assert.deepEqual(lb.priorityLoad().degraded, [100, 0]);
    const m = tally(lb, 100);
    assert.equal((m.get("127.0.0.1:1") ?? 0) + (m.get("127.0.0.1:2") ?? 0), 100);
    const ring = balancer({ lbPolicy: "RING_HASH" }, s);
    assert.equal(ring.pick({ hash: hashKey("k") })?.priority, 0);
    s[1].hosts[0].ejected = false;
  });
});

describe("panic", () => {
  it("balances over all hosts of a priority below the panic threshold", () => {
    const s = sets(cla([{ endpoints: ports(1, 2, 3, 4) }]));
    for (const h of s[0].hosts.slice(1)) h.ejected = true; // 25% healthy < 50%
    const lb = balancer({}, s, rng(13));
    assert.deepEqual(lb.priorityLoad().panic, [true]);
    assert.equal(tally(lb, 400).size, 4);
    // Istio's healthyPanicThreshold {} (0%): never panic, only the healthy host.
    const strict = balancer({ commonLbConfig: { healthyPanicThreshold: {} } }, s, rng(13));
    assert.deepEqual([...tally(strict, 100).keys()], ["127.0.0.1:1"]);
    // fail_traffic_on_panic: no host instead of any host.
    const failing = balancer({ commonLbConfig: { zoneAwareLbConfig: { failTrafficOnPanic: true } } }, s, rng(13));
    assert.equal(failing.pick(), undefined);
    // ... and no host at all when none is healthy.
    s[0].hosts[0].ejected = true;
    assert.equal(strict.pick(), undefined);
    assert.equal(tally(lb, 400).size, 4, "panic still balances over all hosts");
    // Ring hash in panic uses all hosts too.
    const ring = balancer({ lbPolicy: "RING_HASH" }, s);
    assert.ok(ring.pick({ hash: 1n }));
    for (const h of s[0].hosts) h.ejected = false;
  });

  it("splits load by host counts when every priority is in panic", () => {
    const s = sets(cla([{ endpoints: ports(1, 2, 3, 4) }, { priority: 1, endpoints: ports(5, 6) }]));
    for (const h of [...s[0].hosts.slice(1), ...s[1].hosts]) h.ejected = true;
    const lb = balancer({}, s, rng(14));
    assert.deepEqual(lb.priorityLoad(), { healthy: [67, 33], degraded: [0, 0], panic: [true, true] });
    for (const h of [...s[0].hosts, ...s[1].hosts]) h.ejected = false;
  });

  it("does not panic a priority while the total availability is 100%", () => {
    const s = sets(cla([{ endpoints: ports(1, 2, 3, 4) }, { priority: 1, endpoints: ports(5, 6) }]));
    for (const h of s[0].hosts.slice(1)) h.ejected = true; // P0: 35%, P1: 100% → total 100
    const lb = balancer({}, s, rng(15));
    assert.deepEqual(lb.priorityLoad(), { healthy: [35, 65], degraded: [0, 0], panic: [false, false] });
    for (const h of s[0].hosts) h.ejected = false;
  });
});

describe("locality-weighted balancing", () => {
  const dir = new URL("../../../../test/xds/gen/testdata/", import.meta.url);
  const golden = JSON.parse(readFileSync(new URL("endpoints-locality.json", dir), "utf8")) as Record<string, ClusterLoadAssignment>;

  it("splits traffic by locality weight, then balances within the locality", () => {
    // Istio's distribute: eu-west 10, us-east/zone1/sub1 56 (2 hosts), sub2 14, us-east/zone2 20.
    const { priorities } = hostsFromClusterLoadAssignment(golden["echo-distribute"]);
    const lb = balancer({ commonLbConfig: { localityWeightedLbConfig: {} } }, priorities, rng(16));
    const n = 10_000;
    const byLocality = (m: Map<string, number>) => {
      const out = new Map<string, number>();
      for (const set of priorities) for (const h of set.hosts) out.set(h.localityKey, (out.get(h.localityKey) ?? 0) + (m.get(h.key) ?? 0) / n);
      return out;
    };
    let loc = byLocality(tally(lb, n));
    near(loc.get("eu-west/zone1/")!, 0.1, 0.01, "eu-west");
    near(loc.get("us-east/zone1/sub1")!, 0.56, 0.01, "sub1");
    near(loc.get("us-east/zone1/sub2")!, 0.14, 0.01, "sub2");
    near(loc.get("us-east/zone2/")!, 0.2, 0.01, "zone2");

    // Half of sub1 ejected: its effective weight is 56 × min(1, 1.4 × 0.5) = 39.2.
    const sub1 = priorities[0].localities.find((l) => l.localityKey === "us-east/zone1/sub1")!;
    sub1.hosts[0].ejected = true;
    loc = byLocality(tally(lb, n));
    near(loc.get("us-east/zone1/sub1")!, 39.2 / 83.2, 0.015, "sub1 degraded");
    near(loc.get("eu-west/zone1/")!, 10 / 83.2, 0.015, "eu-west after");
    sub1.hosts[0].ejected = false;

    // Without locality_weighted_lb_config the locality weights are ignored: per host weight.
    const flat = tally(balancer({}, priorities, rng(16)), 7000);
    const total = priorities[0].hosts.reduce((n, h) => n + h.weight, 0);
    for (const h of priorities[0].hosts) near((flat.get(h.key) ?? 0) / 7000, h.weight / total, 0.002, `flat ${h.key}`);
  });

  it("fails over across the priorities Istio computes", () => {
    const { priorities } = hostsFromClusterLoadAssignment(golden["echo-failover"]);
    const lb = balancer({ lbPolicy: "LEAST_REQUEST", commonLbConfig: { healthyPanicThreshold: {}, localityWeightedLbConfig: {} } }, priorities, rng(17));
    assert.deepEqual(lb.priorityLoad().healthy, [100, 0, 0, 0, 0]);
    for (const h of priorities[0].hosts) h.ejected = true;
    assert.deepEqual(lb.priorityLoad().healthy, [0, 100, 0, 0, 0]);
    assert.equal(lb.pick()?.key, priorities[1].hosts[0].key);
    for (const h of priorities[1].hosts) h.ejected = true;
    assert.equal(lb.pick()?.key, priorities[2].hosts[0].key);
    for (const set of priorities) for (const h of set.hosts) h.ejected = false;
  });
});
