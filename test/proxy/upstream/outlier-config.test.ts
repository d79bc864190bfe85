// Outlier detection config: Envoy's defaults, what Istio emits (decoded as the proxy decodes it),
// bad fields rejected with their path, and gRPC statuses mapped to HTTP as Envoy does.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CLUSTER_TYPE, decodeMessage, encodeMessage } from "../../../src/envoy/protos.js";
import type { Cluster, OutlierDetection } from "../../../src/envoy/types.js";
import { clusterSpec } from "../../../src/proxy/upstream/cluster.js";
import { grpcToHttpStatus } from "../../../src/core/grpc.js";
import { foreignAny } from "../../helpers/xds.js";
import { outlierConfig } from "../../../src/proxy/upstream/outlier-config.js";
import { XdsConfigError } from "../../../src/proxy/xds-error.js";
import { staticCluster } from "./outlier-helpers.js";

describe("outlierConfig", () => {
  it("applies Envoy's defaults", () => {
    const c = outlierConfig({});
    assert.deepEqual(c, {
      intervalMs: 10_000,
      baseEjectionTimeMs: 30_000,
      maxEjectionTimeMs: 300_000,
      maxEjectionTimeJitterMs: 0,
      maxEjectionPercent: 10,
      alwaysEjectOneHost: false,
      consecutive5xx: 5,
      consecutiveGatewayFailure: 5,
      consecutiveLocalOriginFailure: 5,
      enforcingConsecutive5xx: 100,
      enforcingConsecutiveGatewayFailure: 0,
      enforcingConsecutiveLocalOriginFailure: 100,
      splitExternalLocalOriginErrors: false,
      successRateMinimumHosts: 5,
      successRateRequestVolume: 100,
      successRateStdevFactor: 1900,
      enforcingSuccessRate: 100,
      enforcingLocalOriginSuccessRate: 100,
      failurePercentageThreshold: 85,
      failurePercentageMinimumHosts: 5,
      failurePercentageRequestVolume: 50,
      enforcingFailurePercentage: 0,
      enforcingFailurePercentageLocalOrigin: 0,
    });
    // max_ejection_time defaults to max(300 s, base_ejection_time).
    assert.equal(outlierConfig({ baseEjectionTime: { seconds: 400 } }).maxEjectionTimeMs, 400_000);
  });

  it("reads what Istio emits, decoded as the proxy decodes it (consecutive_5xx keeps its underscore)", () => {
    const bytes = encodeMessage(CLUSTER_TYPE, {
      name: "c",
      outlierDetection: {
        consecutive_5xx: { value: 3 },
        enforcingConsecutive_5xx: { value: 100 },
        interval: { seconds: 2 },
        baseEjectionTime: { seconds: 7 },
        maxEjectionPercent: { value: 50 },
        enforcingSuccessRate: { value: 0 },
        consecutiveGatewayFailure: { value: 4 },
        enforcingConsecutiveGatewayFailure: { value: 100 },
        splitExternalLocalOriginErrors: true,
        consecutiveLocalOriginFailure: { value: 2 },
      },
    });
    const decoded = decodeMessage(CLUSTER_TYPE, bytes) as Cluster;
    const c = clusterSpec({ ...decoded, type: "STATIC" }).outlier!;
    assert.equal(c.consecutive5xx, 3);
    assert.equal(c.enforcingConsecutive5xx, 100);
    assert.equal(c.intervalMs, 2000);
    assert.equal(c.baseEjectionTimeMs, 7000);
    assert.equal(c.maxEjectionPercent, 50);
    assert.equal(c.consecutiveGatewayFailure, 4);
    assert.equal(c.enforcingConsecutiveGatewayFailure, 100);
    assert.equal(c.splitExternalLocalOriginErrors, true);
    assert.equal(c.consecutiveLocalOriginFailure, 2);
  });

  const bad: Array<[string, OutlierDetection, RegExp]> = [
    ["max below base", { baseEjectionTime: { seconds: 60 }, maxEjectionTime: { seconds: 30 } }, /maxEjectionTime: outlier detector's max_ejection_time cannot be smaller than base_ejection_time/],
    ["zero interval", { interval: {} }, /interval: value must be greater than 0s/],
    ["percent over 100", { maxEjectionPercent: { value: 101 } }, /maxEjectionPercent: value must be less than or equal to 100/],
    ["enforcing over 100", { enforcingConsecutive_5xx: { value: 200 } }, /enforcingConsecutive_5xx: value must be less than or equal to 100/],
    ["an outlier monitor (extension)", { monitors: [{ name: "envoy.outlier_detection_monitors.consecutive_errors", typedConfig: foreignAny("type.googleapis.com/x.Monitor") }] }, /monitors\[0\]\.typedConfig: Didn't find a registered implementation/],
    ["un-ejection by active health checks", { successfulActiveHealthCheckUnejectHost: { value: true } }, /successfulActiveHealthCheckUnejectHost: active health checks are not implemented/],
  ];
  for (const [name, od, re] of bad) {
    it(`rejects ${name} with a field path`, () => {
      assert.throws(
        () => clusterSpec(staticCluster("bad", [8080], od)),
        (e: unknown) => e instanceof XdsConfigError && /^cluster bad: outlierDetection\./.test(e.message) && re.test(e.message),
      );
    });
  }

  it("maps gRPC statuses to HTTP as Envoy does", () => {
    assert.deepEqual([0, 1, 4, 8, 12, 13, 14, 16].map(grpcToHttpStatus), [200, 499, 504, 429, 501, 500, 503, 401]);
  });
});
