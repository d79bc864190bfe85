// A cluster's load balancing settings: Envoy's defaults, the fields Istio emits, and bad config
// rejected with its field path.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { anyOf, CLUSTER_TYPE } from "../../../src/envoy/protos.js";
import type { Cluster, LeastRequest } from "../../../src/envoy/types.js";
import { lbSettings } from "../../../src/proxy/upstream/lb-config.js";
import { XdsConfigError } from "../../../src/proxy/xds-error.js";
import { asDecoded, foreignAny } from "../../helpers/xds.js";
import { balancer } from "./lb-helpers.js";

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
