import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CLUSTER_TYPE } from "../../../src/envoy/protos.js";
import type { Cluster } from "../../../src/envoy/types.js";
import type { Locality } from "../../../src/registry/model.js";
import { outboundClusters } from "../../../src/xds/gen/clusters.js";
import {
  applyFailoverPriorities,
  applyLocalityFailover,
  applyLocalityLoadBalancer,
  applyLocalityWeights,
  compactPriorities,
  effectiveLocalityLbSetting,
  failoverPriorityKey,
  localityLbApplies,
  localityMatch,
  localityPriority,
  splitLocality,
  withTopologyLabels,
  type LocalityGroup,
  type WeightedEndpoint,
} from "../../../src/xds/gen/locality.js";
import { assertRoundTrip, bookinfo, testProxy } from "../../helpers/xds.js";

interface Ep extends WeightedEndpoint {
  id: string;
}

const loc = (s: string): Locality => splitLocality(s);

function group(locality: string, ...eps: [string, number?, Record<string, string>?][]): LocalityGroup<Ep> {
  const endpoints = eps.map(([id, weight = 1, labels = {}]) => ({ id, weight, labels }));
  return { locality: loc(locality), endpoints, weight: endpoints.reduce((s, e) => s + e.weight, 0), priority: 0 };
}

/** `locality:priority:weight[ids]` per group, in order. */
function show(groups: readonly LocalityGroup<Ep>[]): string[] {
  return groups.map((g) => `${[g.locality.region, g.locality.zone, g.locality.subZone].join("/")}:${g.priority}:${g.weight}[${g.endpoints.map((e) => e.id).join(",")}]`);
}

const GROUPS = [
  group("us-east/zone1/sub1", ["a"]),
  group("us-east/zone1/sub2", ["b"]),
  group("us-east/zone2/sub1", ["c"]),
  group("us-west/zone1/sub1", ["d"]),
  group("eu-west/zone1/sub1", ["e"]),
];

describe("locality matching", () => {
  const cases: [string, string, boolean][] = [
    ["us-east/zone1/sub1", "us-east", true],
    ["us-east/zone1/sub1", "us-east/*", true],
    ["us-east/zone1/sub1", "us-east/zone1", true],
    ["us-east/zone1/sub1", "us-east/zone1/sub1", true],
    ["us-east/zone1/sub1", "us-east/zone1/sub2", false],
    ["us-east/zone1/sub1", "us-east/zone2/*", false],
    ["us-east/zone1/sub1", "*", true],
    ["us-east/zone1/sub1", "us-west", false],
    ["us-east", "us-east/zone1", false],
  ];
  for (const [l, rule, want] of cases) it(`${l} ~ ${rule} → ${want}`, () => assert.equal(localityMatch(loc(l), rule), want));

  it("priorities by proximity (Istio's LbPriority)", () => {
    const p = loc("us-east/zone1/sub1");
    assert.deepEqual(
      ["us-east/zone1/sub1", "us-east/zone1/sub2", "us-east/zone2/sub1", "us-west/zone1/sub1", ""].map((l) => localityPriority(p, loc(l))),
      [0, 1, 2, 3, 3],
    );
  });
});

describe("locality failover (Istio's applyLocalityFailover)", () => {
  const cases: { name: string; proxy: string; failover?: { from: string; to: string }[]; want: string[] }[] = [
    {
      name: "default: subzone, zone, region, others",
      proxy: "us-east/zone1/sub1",
      want: [
        "us-east/zone1/sub1:0:1[a]",
        "us-east/zone1/sub2:1:1[b]",
        "us-east/zone2/sub1:2:1[c]",
        "us-west/zone1/sub1:3:1[d]",
        "eu-west/zone1/sub1:3:1[e]",
      ],
    },
    {
      name: "failover to eu-west ranks it before other regions",
      proxy: "us-east/zone1/sub1",
      failover: [{ from: "us-east", to: "eu-west" }],
      want: [
        "us-east/zone1/sub1:0:1[a]",
        "us-east/zone1/sub2:1:1[b]",
        "us-east/zone2/sub1:2:1[c]",
        "us-west/zone1/sub1:4:1[d]",
        "eu-west/zone1/sub1:3:1[e]",
      ],
    },
    {
      name: "a failover rule for another region does not apply",
      proxy: "us-west/zone1/sub1",
      failover: [{ from: "us-east", to: "eu-west" }],
      want: [
        "us-east/zone1/sub1:1:1[a]",
        "us-east/zone1/sub2:1:1[b]",
        "us-east/zone2/sub1:1:1[c]",
        "us-west/zone1/sub1:0:1[d]",
        "eu-west/zone1/sub1:1:1[e]",
      ],
    },
    {
      name: "gaps are compacted (no same-subzone endpoints)",
      proxy: "us-east/zone9/sub9",
      want: [
        "us-east/zone1/sub1:0:1[a]",
        "us-east/zone1/sub2:0:1[b]",
        "us-east/zone2/sub1:0:1[c]",
        "us-west/zone1/sub1:1:1[d]",
        "eu-west/zone1/sub1:1:1[e]",
      ],
    },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(show(applyLocalityFailover(GROUPS, loc(c.proxy), c.failover ?? [])), c.want));
});

describe("locality weights (Istio's applyLocalityWeights)", () => {
  it("re-weights matched localities, splits wildcard weight, drops the rest", () => {
    const groups = [
      group("us-east/zone1/sub1", ["a"], ["a2"]),
      group("us-east/zone1/sub2", ["b"]),
      group("us-east/zone2/sub1", ["c"]),
      group("us-west/zone1/sub1", ["d"]),
    ];
    const got = applyLocalityWeights(groups, loc("us-east/zone1/sub1"), [
      { from: "us-west/*", to: { "us-west/*": 100 } },
      { from: "us-east/zone1/*", to: { "us-east/zone1/*": 70, "us-west/*": 30 } },
    ]);
    // zone1 has weights 2 and 1: 70 splits as ceil(2*70/3)=47 and ceil(1*70/3)=24.
    assert.deepEqual(show(got), ["us-east/zone1/sub1:0:47[a,a2]", "us-east/zone1/sub2:0:24[b]", "us-west/zone1/sub1:0:30[d]"]);
  });

  it("no matching `from`: unchanged", () => {
    assert.deepEqual(show(applyLocalityWeights(GROUPS, loc("ap-south/z/s"), [{ from: "us-east", to: { "us-east": 100 } }])), show(GROUPS));
  });
});

describe("failover priority (Istio's applyFailoverPriorities)", () => {
  const groups = [
    group("us-east/zone1/sub1", ["a", 1, { version: "v1", tier: "gold" }], ["b", 2, { version: "v2", tier: "gold" }]),
    group("us-west/zone1/sub1", ["c", 1, { version: "v1", tier: "silver" }], ["d", 1, { version: "v2" }]),
  ];
  const proxyLabels = { version: "v1", tier: "gold" };

  it("splits localities by how many labels (in order) match the proxy", () => {
    assert.deepEqual(show(applyFailoverPriorities(groups, proxyLabels, ["version", "tier"])), [
      "us-east/zone1/sub1:0:1[a]",
      "us-east/zone1/sub1:2:2[b]",
      "us-west/zone1/sub1:1:1[c]",
      "us-west/zone1/sub1:2:1[d]",
    ]);
  });

  it("label=value compares with a fixed value", () => {
    assert.deepEqual(show(applyFailoverPriorities(groups, proxyLabels, ["tier=silver"])), [
      "us-east/zone1/sub1:1:3[a,b]",
      "us-west/zone1/sub1:0:1[c]",
      "us-west/zone1/sub1:1:1[d]",
    ]);
  });

  it("without proxy labels nothing changes (as Istio)", () => {
    assert.deepEqual(show(applyFailoverPriorities(groups, {}, ["version"])), show(groups));
  });

  it("combined with failover: label priority is the major key", () => {
    const got = applyLocalityLoadBalancer(
      groups,
      { locality: loc("us-west/zone1/sub1"), labels: proxyLabels },
      { failoverPriority: ["version"], failover: [{ from: "us-west", to: "us-east" }] },
      true,
    );
    // version match first (a, c), then locality: us-west (c) before us-east (a).
    assert.deepEqual(show(got), ["us-west/zone1/sub1:0:1[c]", "us-east/zone1/sub1:1:1[a]", "us-west/zone1/sub1:2:1[d]", "us-east/zone1/sub1:3:2[b]"]);
  });

  it("topology labels make locality usable in failoverPriority", () => {
    const eps = [group("us-east/zone1/sub1", ["a", 1, withTopologyLabels({}, loc("us-east/zone1/sub1"))]), group("us-west/zone1/sub1", ["b", 1, withTopologyLabels({}, loc("us-west/zone1/sub1"))])];
    const labels = withTopologyLabels({ app: "x" }, loc("us-west/zone2"), "net1");
    assert.deepEqual(labels, {
      app: "x",
      "topology.kubernetes.io/region": "us-west",
      "topology.kubernetes.io/zone": "zone2",
      "topology.istio.io/network": "net1",
    });
    const got = applyLocalityLoadBalancer(eps, { locality: loc("us-west/zone2"), labels }, { failoverPriority: ["topology.kubernetes.io/region"] }, true);
    assert.deepEqual(show(got), ["us-west/zone1/sub1:0:1[b]", "us-east/zone1/sub1:1:1[a]"]);
    assert.equal(failoverPriorityKey(labels, ["topology.kubernetes.io/region", "version=v1"]), "topology.kubernetes.io/region:us-west version=v1:");
  });
});

describe("applyLocalityLoadBalancer", () => {
  const caller = { locality: loc("us-east/zone1/sub1"), labels: {} };

  it("distribute applies without outlier detection; failover only with it", () => {
    const distribute = { distribute: [{ from: "us-east/*", to: { "us-east/zone1/*": 100 } }] };
    assert.deepEqual(show(applyLocalityLoadBalancer(GROUPS, caller, distribute, false)), ["us-east/zone1/sub1:0:50[a]", "us-east/zone1/sub2:0:50[b]"]);
    assert.deepEqual(show(applyLocalityLoadBalancer(GROUPS, caller, {}, false)), show(GROUPS), "no outlier detection: no failover");
    const failover = show(applyLocalityLoadBalancer(GROUPS, caller, {}, true));
    assert.deepEqual(failover.map((s) => s.split(":")[1]), ["0", "1", "2", "3", "3"], "sorted by priority");
  });

  it("applies only for located callers with something to do", () => {
    assert.equal(localityLbApplies({}, { locality: loc("us-east") }, true), true);
    assert.equal(localityLbApplies({}, { locality: loc("us-east") }, false), false);
    assert.equal(localityLbApplies({}, { locality: loc("") }, true), false);
    assert.equal(localityLbApplies(undefined, { locality: loc("us-east") }, true), false);
    assert.equal(localityLbApplies({ distribute: [{ from: "*", to: { "*": 100 } }] }, { locality: loc("us-east") }, false), true);
  });

  it("Istio's GetLocalityLbSetting: rule wins unless disabled, else the mesh switch", () => {
    assert.deepEqual(effectiveLocalityLbSetting(true, undefined), {});
    assert.equal(effectiveLocalityLbSetting(false, undefined), undefined);
    assert.equal(effectiveLocalityLbSetting(true, { enabled: false }), undefined);
    assert.deepEqual(effectiveLocalityLbSetting(false, { failover: [] }), { failover: [] });
  });

  it("compactPriorities renumbers without gaps", () => {
    const gs = [3, 0, 7, 3].map((priority, i) => ({ ...group("r/z", [String(i)]), priority }));
    assert.deepEqual(compactPriorities(gs).map((g) => g.priority), [1, 0, 2, 1]);
  });
});

// DNS clusters carry their endpoints in CDS: locality priorities apply there too (Istio's
// applyLocalityLoadBalancer on the cluster's load assignment), so those clusters depend on the caller.
const DNS_LOCALITY = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: legacy, namespace: default }
spec:
  hosts: [legacy.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints:
  - { address: east.legacy.example.com, locality: us-east/zone1 }
  - { address: west.legacy.example.com, locality: us-west/zone1 }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: legacy, namespace: default }
spec:
  host: legacy.example.com
  trafficPolicy:
    outlierDetection: { consecutive5xxErrors: 3 }
    loadBalancer:
      localityLbSetting:
        failover: [{ from: us-east, to: us-west }]
`;

describe("DNS clusters with locality load balancing", () => {
  it("prioritise the caller's locality and are keyed by it", () => {
    const push = bookinfo(DNS_LOCALITY);
    const east = testProxy({ ip: "127.0.2.1", name: "productpage-v1", labels: { app: "productpage" }, locality: { region: "us-east", zone: "zone1" } });
    const west = testProxy({ ip: "127.0.4.1", name: "reviews-v1", labels: { app: "reviews" }, locality: { region: "us-west", zone: "zone1" } });
    const pick = (list: readonly Cluster[]) => list.find((c) => c.name === "outbound|80||legacy.example.com")!;
    const e = pick(outboundClusters(east, push));
    const w = pick(outboundClusters(west, push));
    assertRoundTrip(CLUSTER_TYPE, e, "east");
    assertRoundTrip(CLUSTER_TYPE, w, "west");
    const prio = (c: Cluster) => (c.loadAssignment?.endpoints ?? []).map((x) => `${x.locality?.region}:${x.priority ?? 0}`);
    assert.deepEqual(prio(e), ["us-east:0", "us-west:1"]);
    assert.deepEqual(prio(w), ["us-west:0", "us-east:1"]);
    assert.deepEqual(e.commonLbConfig, { healthyPanicThreshold: {}, localityWeightedLbConfig: {} });
    const east2 = testProxy({ ip: "127.0.3.1", name: "details-v1", labels: { app: "details" }, locality: { region: "us-east", zone: "zone1" } });
    assert.equal(pick(outboundClusters(east2, push)), e, "same locality, same object");
    const reviews = (list: readonly Cluster[]) => list.find((c) => c.name === "outbound|9080||reviews.default.svc.cluster.local");
    assert.equal(reviews(outboundClusters(east, push)), reviews(outboundClusters(west, push)), "EDS clusters stay shared");
  });
});
