// The load balancing policies as Envoy runs them: ROUND_ROBIN (EDF weights, ejection, retries,
// slow start), LEAST_REQUEST, RANDOM, RING_HASH and MAGLEV (same ring and table as Envoy, little
// disruption, retries, locality weights). Priorities, panic and localities: lb-priorities.test.ts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hashKey } from "../../../src/proxy/upstream/hash.js";
import { type Host, hostsFromClusterLoadAssignment } from "../../../src/proxy/upstream/host.js";
import { balancer, cla, near, ports, rng, sets, share, tally } from "./lb-helpers.js";

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
