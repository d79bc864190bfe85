import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ENDPOINT_TYPE } from "../../../src/envoy/protos.js";
import type { ClusterLoadAssignment } from "../../../src/envoy/types.js";
import type { PushContext } from "../../../src/model/push-context.js";
import { EndpointsBuilder } from "../../../src/xds/gen/endpoints.js";
import { assertGolden, assertRoundTrip, bookinfo, testProxy } from "../../helpers/xds.js";

const productpage = (): ReturnType<typeof testProxy> =>
  testProxy({ ip: "127.0.2.1", name: "productpage-v1", labels: { app: "productpage", version: "v1" } });

const REVIEWS = "outbound|9080||reviews.default.svc.cluster.local";
const RATINGS = "outbound|9080||ratings.default.svc.cluster.local";

function build(eb: EndpointsBuilder, proxy: ReturnType<typeof testProxy>, push: PushContext, name: string): ClusterLoadAssignment {
  const cla = eb.build(proxy, push, name);
  assert.ok(cla, `no assignment for ${name}`);
  assertRoundTrip(ENDPOINT_TYPE, cla, name);
  return cla;
}

function started(push: PushContext): EndpointsBuilder {
  const eb = new EndpointsBuilder();
  eb.beginPush(push, { full: true });
  return eb;
}

/** `address:port` per locality, with the locality's priority. */
function summary(cla: ClusterLoadAssignment): string[] {
  return (cla.endpoints ?? []).map(
    (e) =>
      `${[e.locality?.region, e.locality?.zone, e.locality?.subZone].filter(Boolean).join("/")} p${e.priority ?? 0} w${e.loadBalancingWeight?.value}: ` +
      (e.lbEndpoints ?? []).map((l) => `${l.endpoint?.address?.socketAddress?.address}:${l.endpoint?.address?.socketAddress?.portValue}`).join(" "),
  );
}

// One service in several regions/zones, reached through differently configured hosts.
const LOCALITY = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: echo, namespace: default }
spec:
  hosts: [echo.default.svc.cluster.local, echo-failover.default.svc.cluster.local, echo-priority.default.svc.cluster.local, echo-distribute.default.svc.cluster.local, echo-nood.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 7070, name: http, protocol: HTTP, targetPort: 8080 }]
  workloadSelector: { labels: { app: echo } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: echo-east-1a-v1, namespace: default }
spec: { address: 10.1.0.1, labels: { app: echo, version: v1 }, locality: us-east/zone1/sub1 }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: echo-east-1a-v2, namespace: default }
spec: { address: 10.1.0.2, labels: { app: echo, version: v2 }, locality: us-east/zone1/sub1, weight: 3 }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: echo-east-1b, namespace: default }
spec: { address: 10.1.1.1, labels: { app: echo, version: v1 }, locality: us-east/zone1/sub2 }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: echo-east-2, namespace: default }
spec: { address: 10.2.0.1, labels: { app: echo, version: v2 }, locality: us-east/zone2 }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: echo-west, namespace: default }
spec: { address: 10.3.0.1, labels: { app: echo, version: v1 }, locality: us-west/zone1 }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: echo-eu, namespace: default }
spec: { address: 10.4.0.1, labels: { app: echo, version: v1 }, locality: eu-west/zone1, ports: { http: 9090 } }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo-failover, namespace: default }
spec:
  host: echo-failover.default.svc.cluster.local
  trafficPolicy:
    outlierDetection: { consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s }
    loadBalancer:
      localityLbSetting:
        failover: [{ from: us-east, to: eu-west }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo-priority, namespace: default }
spec:
  host: echo-priority.default.svc.cluster.local
  trafficPolicy:
    outlierDetection: { consecutive5xxErrors: 5 }
    loadBalancer:
      localityLbSetting:
        failoverPriority: [version, topology.kubernetes.io/region]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo-distribute, namespace: default }
spec:
  host: echo-distribute.default.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      localityLbSetting:
        distribute:
        - from: us-east/zone1/*
          to: { "us-east/zone1/*": 70, "us-east/zone2/*": 20, "eu-west/*": 10 }
  subsets:
  - { name: v1, labels: { version: v1 } }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo-nood, namespace: default }
spec:
  host: echo-nood.default.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      localityLbSetting:
        failover: [{ from: us-east, to: eu-west }]
`;

const eastClient = (ip = "127.0.9.1", labels: Record<string, string> = { app: "client", version: "v1" }): ReturnType<typeof testProxy> =>
  testProxy({ ip, name: `client-${ip}`, labels, locality: { region: "us-east", zone: "zone1", subZone: "sub1" } });

describe("EndpointsBuilder: bookinfo", () => {
  it("reviews, all and v2 subset (golden)", () => {
    const push = bookinfo();
    const eb = started(push);
    const all = build(eb, productpage(), push, REVIEWS);
    const v2 = build(eb, productpage(), push, "outbound|9080|v2|reviews.default.svc.cluster.local");
    assertGolden("endpoints-bookinfo-reviews", { all, v2 });
    assert.deepEqual(summary(all), ["local/zone-a p0 w3: 127.0.4.1:9080 127.0.4.2:9080 127.0.4.3:9080"]);
    assert.deepEqual(summary(v2), ["local/zone-a p0 w1: 127.0.4.2:9080"]);
  });

  it("is undefined for names that are not EDS clusters of a visible service", () => {
    const extra = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: hidden, namespace: other }
spec: { hosts: [hidden.other.svc.cluster.local], resolution: STATIC, exportTo: ["."], ports: [{ number: 80, name: http, protocol: HTTP }] }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ext, namespace: default }
spec: { hosts: [ext.example.com], resolution: DNS, ports: [{ number: 80, name: http, protocol: HTTP }] }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: details-direct, namespace: default }
spec:
  host: details
  subsets:
  - { name: direct, labels: { version: v1 }, trafficPolicy: { loadBalancer: { simple: PASSTHROUGH } } }
`;
    const push = bookinfo(extra);
    const eb = started(push);
    for (const name of [
      "inbound|9080||",
      "BlackHoleCluster",
      "outbound|9080|v9|reviews.default.svc.cluster.local",
      "outbound|9999||reviews.default.svc.cluster.local",
      "outbound|80||hidden.other.svc.cluster.local",
      "outbound|80||ext.example.com",
      "outbound|80||nowhere.example.com",
      "outbound|9080|direct|details.default.svc.cluster.local",
    ]) {
      assert.equal(eb.build(productpage(), push, name), undefined, name);
    }
    assert.equal(eb.size, 0);
  });

  it("a service without endpoints gets an empty assignment", () => {
    const extra = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: empty, namespace: default }
spec: { hosts: [empty.default.svc.cluster.local], resolution: STATIC, ports: [{ number: 80, name: http, protocol: HTTP }], workloadSelector: { labels: { app: none } } }
`;
    const push = bookinfo(extra);
    assert.deepEqual(build(started(push), productpage(), push, "outbound|80||empty.default.svc.cluster.local"), {
      clusterName: "outbound|80||empty.default.svc.cluster.local",
    });
  });

  it("only IP literals, deduplicated, weights and endpoint ports", () => {
    const extra = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: mixed, namespace: default }
spec:
  hosts: [mixed.default.svc.cluster.local]
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: 8080 }]
  endpoints:
  - { address: 10.0.0.10, weight: 5 }
  - { address: 10.0.0.9, ports: { http: 9000 } }
  - { address: 10.0.0.10 }
  - { address: "unix:///var/run/x.sock" }
  - { address: "2001:db8::1" }
`;
    const push = bookinfo(extra);
    const cla = build(started(push), productpage(), push, "outbound|80||mixed.default.svc.cluster.local");
    assert.deepEqual(summary(cla), [" p0 w7: 10.0.0.9:9000 10.0.0.10:8080 2001:db8::1:8080"]);
    const lbs = (cla.endpoints as { lbEndpoints: { loadBalancingWeight: { value: number } }[] }[])[0].lbEndpoints.map((l) => l.loadBalancingWeight.value);
    assert.deepEqual(lbs, [1, 5, 1]);
    assert.deepEqual((cla.endpoints as { locality: unknown }[])[0].locality, {}, "gRPC wants the locality field present");
  });
});

describe("EndpointsBuilder: locality load balancing", () => {
  const push = bookinfo(LOCALITY);

  it("golden: failover, failoverPriority, distribute, no outlier detection", () => {
    const eb = started(push);
    const c = eastClient();
    const out: Record<string, ClusterLoadAssignment> = {};
    for (const host of ["echo", "echo-failover", "echo-priority", "echo-distribute", "echo-nood"]) {
      out[host] = build(eb, c, push, `outbound|7070||${host}.default.svc.cluster.local`);
    }
    out["echo-distribute-v1"] = build(eb, c, push, "outbound|7070|v1|echo-distribute.default.svc.cluster.local");
    assertGolden("endpoints-locality", out);
  });

  it("failover: subzone, zone, region, the failover region, then others", () => {
    const cla = build(started(push), eastClient(), push, "outbound|7070||echo-failover.default.svc.cluster.local");
    assert.deepEqual(summary(cla), [
      "us-east/zone1/sub1 p0 w4: 10.1.0.1:8080 10.1.0.2:8080",
      "us-east/zone1/sub2 p1 w1: 10.1.1.1:8080",
      "us-east/zone2 p2 w1: 10.2.0.1:8080",
      "eu-west/zone1 p3 w1: 10.4.0.1:9090",
      "us-west/zone1 p4 w1: 10.3.0.1:8080",
    ]);
  });

  it("no outlier detection: no priorities (Envoy would never fail over)", () => {
    const cla = build(started(push), eastClient(), push, "outbound|7070||echo-nood.default.svc.cluster.local");
    assert.ok(summary(cla).every((s) => s.includes(" p0 ")), summary(cla).join("\n"));
  });

  it("failoverPriority: matching labels in order, then region", () => {
    const cla = build(started(push), eastClient(), push, "outbound|7070||echo-priority.default.svc.cluster.local");
    assert.deepEqual(summary(cla), [
      "us-east/zone1/sub1 p0 w1: 10.1.0.1:8080",
      "us-east/zone1/sub2 p0 w1: 10.1.1.1:8080",
      "eu-west/zone1 p1 w1: 10.4.0.1:9090",
      "us-west/zone1 p1 w1: 10.3.0.1:8080",
      "us-east/zone1/sub1 p2 w3: 10.1.0.2:8080",
      "us-east/zone2 p2 w1: 10.2.0.1:8080",
    ]);
  });

  it("distribute: weights from the matching rule, other localities dropped", () => {
    const cla = build(started(push), eastClient(), push, "outbound|7070||echo-distribute.default.svc.cluster.local");
    // zone1 weights 4 and 1 share 70: ceil(4*70/5)=56, ceil(1*70/5)=14.
    assert.deepEqual(summary(cla), [
      "eu-west/zone1 p0 w10: 10.4.0.1:9090",
      "us-east/zone1/sub1 p0 w56: 10.1.0.1:8080 10.1.0.2:8080",
      "us-east/zone1/sub2 p0 w14: 10.1.1.1:8080",
      "us-east/zone2 p0 w20: 10.2.0.1:8080",
    ]);
    const west = testProxy({ ip: "127.0.9.9", name: "w", labels: { app: "client" }, locality: { region: "us-west", zone: "zone1" } });
    assert.equal(summary(build(started(push), west, push, "outbound|7070||echo-distribute.default.svc.cluster.local")).length, 5, "no rule for us-west");
  });

  it("a proxy without locality gets no priorities and shares the plain assignment", () => {
    const eb = started(push);
    const noLoc = testProxy({ ip: "127.0.9.2", name: "n", labels: { app: "client" } });
    const cla = build(eb, noLoc, push, "outbound|7070||echo-failover.default.svc.cluster.local");
    assert.ok(summary(cla).every((s) => s.includes(" p0 ")));
    const noLoc2 = testProxy({ ip: "127.0.9.3", name: "n2", labels: { app: "other" } });
    assert.equal(eb.build(noLoc2, push, "outbound|7070||echo-failover.default.svc.cluster.local"), cla);
  });
});

describe("EndpointsBuilder: cache", () => {
  it("shares one object across proxies when locality does not matter", () => {
    const push = bookinfo();
    const eb = started(push);
    const a = build(eb, productpage(), push, REVIEWS);
    const proxies = Array.from({ length: 50 }, (_, i) => testProxy({ ip: `127.0.8.${i + 1}`, name: `p${i}`, labels: { app: "x" }, locality: { region: `r${i}` } }));
    for (const p of proxies) assert.equal(eb.build(p, push, REVIEWS), a);
    assert.equal(eb.size, 1);
  });

  it("keys by locality (and labels for failoverPriority) when priorities apply", () => {
    const push = bookinfo(LOCALITY);
    const eb = started(push);
    const failover = "outbound|7070||echo-failover.default.svc.cluster.local";
    const a = build(eb, eastClient("127.0.9.1"), push, failover);
    assert.equal(eb.build(eastClient("127.0.9.2", { app: "other" }), push, failover), a, "same locality: shared");
    const west = testProxy({ ip: "127.0.9.9", name: "w", labels: { app: "client" }, locality: { region: "us-west", zone: "zone1" } });
    assert.notEqual(eb.build(west, push, failover), a);

    const prio = "outbound|7070||echo-priority.default.svc.cluster.local";
    const v1 = build(eb, eastClient("127.0.9.1", { app: "c", version: "v1" }), push, prio);
    assert.equal(eb.build(eastClient("127.0.9.2", { app: "d", version: "v1" }), push, prio), v1, "same failoverPriority labels: shared");
    const v2 = build(eb, eastClient("127.0.9.3", { app: "c", version: "v2" }), push, prio);
    assert.notEqual(v2, v1);
    assert.equal(summary(v2)[0], "us-east/zone1/sub1 p0 w3: 10.1.0.2:8080");
  });

  it("EDS-only pushes keep unchanged hosts, rebuild changed ones; full pushes rebuild everything", () => {
    const push1 = bookinfo();
    const eb = started(push1);
    const reviews1 = build(eb, productpage(), push1, REVIEWS);
    const ratings1 = build(eb, productpage(), push1, RATINGS);

    const push2 = bookinfo();
    eb.beginPush(push2, { full: false, changedHosts: new Set(["reviews.default.svc.cluster.local"]) });
    const reviews2 = build(eb, productpage(), push2, REVIEWS);
    assert.notEqual(reviews2, reviews1, "changed host rebuilt");
    assert.deepEqual(reviews2, reviews1);
    assert.equal(eb.build(productpage(), push2, RATINGS), ratings1, "unchanged host reused across pushes");

    eb.invalidate(["ratings.default.svc.cluster.local"]);
    assert.notEqual(eb.build(productpage(), push2, RATINGS), ratings1, "invalidate drops the host");

    const push3 = bookinfo();
    eb.beginPush(push3, { full: true });
    assert.equal(eb.size, 0);
    assert.notEqual(eb.build(productpage(), push3, REVIEWS), reviews2);

    eb.clear();
    assert.equal(eb.size, 0);
  });

  it("DestinationRule changes are picked up on full pushes (subset labels)", () => {
    const push1 = bookinfo();
    const eb = started(push1);
    const v2 = "outbound|9080|v2|reviews.default.svc.cluster.local";
    assert.deepEqual(summary(build(eb, productpage(), push1, v2)), ["local/zone-a p0 w1: 127.0.4.2:9080"]);
    const changed = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews-local, namespace: default }
spec:
  host: reviews.default.svc.cluster.local
  subsets:
  - { name: v2, labels: { version: v3 } }
`;
    // A rule in another namespace, which its proxies prefer (Istio's DestinationRule precedence).
    const push2 = bookinfo(changed.replace("namespace: default", "namespace: other"));
    eb.beginPush(push2, { full: true });
    const other = testProxy({ ip: "127.0.9.5", name: "o", namespace: "other", labels: { app: "o" } });
    assert.deepEqual(summary(build(eb, other, push2, v2)), ["local/zone-a p0 w1: 127.0.4.3:9080"], "the other namespace's rule applies");
    assert.deepEqual(summary(build(eb, productpage(), push2, v2)), ["local/zone-a p0 w1: 127.0.4.2:9080"], "keyed by rule: no mix-up");
  });

  it("builds for a push that was not begun never touch the cache", () => {
    const push1 = bookinfo();
    const eb = started(push1);
    const a = build(eb, productpage(), push1, REVIEWS);
    const stray = bookinfo();
    const b = build(eb, productpage(), stray, REVIEWS);
    assert.notEqual(b, a);
    assert.equal(eb.size, 1);
    assert.equal(eb.build(productpage(), stray, REVIEWS), b, "memoized within that push");
    assert.equal(eb.build(productpage(), push1, REVIEWS), a);
  });
});
