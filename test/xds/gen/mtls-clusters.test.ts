// Auto mTLS and DestinationRule TLS on outbound clusters and their endpoints, as Istio generates
// them (cluster_tls.go, endpoint_builder.go): transport_socket_matches on `tlsMode: istio` endpoint
// metadata when no DestinationRule sets TLS, Istio's ISTIO_MUTUAL context with the agent's SDS
// secrets, and the PeerAuthentication / DestinationRule cases that turn either side off.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { packageRoot } from "../../../src/core/paths.js";
import { CLUSTER_TYPE, ENDPOINT_TYPE, decodeMessage, encodeMessage, fromStruct, isAnyOf } from "../../../src/envoy/protos.js";
import type { Cluster, ClusterLoadAssignment, UpstreamTlsContext } from "../../../src/envoy/types.js";
import type { PushContext } from "../../../src/model/push-context.js";
import { expandTypedStructs } from "../../../src/proxy/typed-struct.js";
import { clusterSpec } from "../../../src/proxy/upstream/cluster-config.js";
import { buildClusters } from "../../../src/xds/gen/clusters.js";
import { EndpointsBuilder } from "../../../src/xds/gen/endpoints.js";
import { assertGolden, assertRoundTrip, bookinfo, pushContext, resourcesFromPaths, resourcesFromYaml, testProxy } from "../../helpers/xds.js";

const productpage = () => testProxy({ ip: "127.0.2.1", name: "productpage-v1", labels: { app: "productpage", version: "v1" } });
const REVIEWS = "outbound|9080||reviews.default.svc.cluster.local";
const sample = (file: string) => readFileSync(join(packageRoot(), "samples", "bookinfo", "networking", file), "utf8");
/** Bookinfo's services and workloads without its DestinationRules, plus `yaml`. */
const bookinfoWithout = (yaml: string) =>
  pushContext([...resourcesFromPaths("examples/bookinfo/services.yaml", "examples/bookinfo/workloads.yaml"), ...resourcesFromYaml(yaml)]);

function cluster(push: PushContext, name: string): Cluster {
  const c = buildClusters(productpage(), push).find((x) => x.name === name);
  assert.ok(c, `cluster ${name}`);
  return c;
}

function endpoints(push: PushContext, name: string): ClusterLoadAssignment {
  const b = new EndpointsBuilder();
  b.beginPush(push, { full: true });
  const cla = b.build(productpage(), push, name);
  assert.ok(cla, `assignment ${name}`);
  return cla;
}

/** `tlsMode` of each endpoint's transport socket metadata, by address ("" when absent). */
function tlsModes(cla: ClusterLoadAssignment): Record<string, string> {
  const out: Record<string, string> = {};
  for (const g of cla.endpoints ?? []) {
    for (const e of g.lbEndpoints ?? []) {
      const md = e.metadata?.filterMetadata?.["envoy.transport_socket_match"];
      out[String(e.endpoint?.address?.socketAddress?.address)] = md ? String(fromStruct(md).tlsMode) : "";
    }
  }
  return out;
}

function upstreamContext(ts: Cluster["transportSocket"]): UpstreamTlsContext {
  assert.ok(isAnyOf(ts?.typedConfig, "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"), "an UpstreamTlsContext");
  return ts.typedConfig;
}

/** The proxy takes what it is sent: every cluster decodes and validates. */
function proxyAccepts(push: PushContext): void {
  for (const c of buildClusters(productpage(), push)) {
    assertRoundTrip(CLUSTER_TYPE, c, String(c.name));
    // (As the proxy's xDS decoder does: Istio's metadata-exchange cluster filter is a TypedStruct.)
    const decoded = decodeMessage(CLUSTER_TYPE, encodeMessage(CLUSTER_TYPE, c));
    expandTypedStructs(decoded);
    clusterSpec(decoded as Cluster);
  }
}

describe("auto mTLS (no DestinationRule TLS)", () => {
  const push = bookinfo();

  it("golden: transport socket matches — ISTIO_MUTUAL to tlsMode istio, plaintext to the rest", () => {
    const c = cluster(push, REVIEWS);
    assert.equal(c.transportSocket, undefined);
    assert.deepEqual(
      c.transportSocketMatches?.map((m) => [m.name, fromStruct(m.match)]),
      [
        ["tlsMode-istio", { tlsMode: "istio" }],
        ["tlsMode-disabled", {}],
      ],
    );
    const ctx = upstreamContext(c.transportSocketMatches?.[0].transportSocket);
    assert.equal(ctx.sni, "outbound_.9080_._.reviews.default.svc.cluster.local");
    assert.deepEqual(ctx.commonTlsContext?.combinedValidationContext?.defaultValidationContext, {
      matchSubjectAltNames: [{ exact: "spiffe://cluster.local/ns/default/sa/bookinfo-reviews" }],
    });
    assert.equal(c.transportSocketMatches?.[1].transportSocket?.name, "envoy.transport_sockets.raw_buffer");
    assertGolden("clusters-mtls-auto-reviews", [c]);
    proxyAccepts(push);
  });

  it("golden: endpoints with a sidecar carry tlsMode istio and Istio's workload label", () => {
    const cla = endpoints(push, REVIEWS);
    assertRoundTrip(ENDPOINT_TYPE, cla, REVIEWS);
    assert.deepEqual(Object.values(tlsModes(cla)), ["istio", "istio", "istio"]);
    assertGolden("endpoints-mtls-auto-reviews", { [REVIEWS]: cla });
  });

  it("subsets get the same matches with their own SNI", () => {
    const c = cluster(bookinfo(sample("destination-rule-all.yaml")), "outbound|9080|v2|reviews.default.svc.cluster.local");
    assert.equal(upstreamContext(c.transportSocketMatches?.[0].transportSocket).sni, "outbound_.9080_.v2_.reviews.default.svc.cluster.local");
  });

  it("the trust domain of the mesh names the SANs", () => {
    const res = resourcesFromPaths("examples/bookinfo");
    const c = buildClusters(productpage(), pushContext(res, { trustDomain: "example.org" })).find((x) => x.name === REVIEWS)!;
    const ctx = upstreamContext(c.transportSocketMatches?.[0].transportSocket);
    assert.deepEqual(ctx.commonTlsContext?.combinedValidationContext?.defaultValidationContext?.matchSubjectAltNames, [
      { exact: "spiffe://example.org/ns/default/sa/bookinfo-reviews" },
    ]);
  });

  const off: { name: string; yaml?: string; mesh?: { enableAutoMtls: boolean }; endpointsKeep: boolean }[] = [
    { name: "mesh enableAutoMtls: false", mesh: { enableAutoMtls: false }, endpointsKeep: true },
    {
      name: "the destination namespace's PeerAuthentication is DISABLE",
      yaml: "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: default}\nspec: {mtls: {mode: DISABLE}}\n",
      endpointsKeep: false,
    },
    {
      name: "the mesh PeerAuthentication is DISABLE",
      yaml: "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\nspec: {mtls: {mode: DISABLE}}\n",
      endpointsKeep: false,
    },
  ];
  for (const o of off) {
    it(`off when ${o.name}`, () => {
      const res = [...resourcesFromPaths("examples/bookinfo"), ...(o.yaml ? resourcesFromYaml(o.yaml) : [])];
      const p = pushContext(res, o.mesh ?? {});
      const c = cluster(p, REVIEWS);
      assert.equal(c.transportSocketMatches, undefined);
      assert.equal(c.transportSocket, undefined);
      // The endpoints say what the workloads accept (Istio's checkMtlsEnabled reads PeerAuthentication, not the mesh switch).
      const want = o.endpointsKeep ? "istio" : "";
      assert.deepEqual(Object.values(tlsModes(endpoints(p, REVIEWS))), [want, want, want]);
    });
  }

  it("stays on under STRICT and PERMISSIVE namespace policies", () => {
    for (const mode of ["STRICT", "PERMISSIVE"]) {
      const p = bookinfo(`apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: default}\nspec: {mtls: {mode: ${mode}}}\n`);
      assert.equal(cluster(p, REVIEWS).transportSocketMatches?.length, 2, mode);
    }
  });

  it("a workload-level DISABLE (or a DISABLE port) takes only that workload's endpoints off mTLS", () => {
    const p = bookinfo(`apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: reviews-v2, namespace: default}
spec:
  selector: {matchLabels: {app: reviews, version: v2}}
  mtls: {mode: DISABLE}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: reviews-v3, namespace: default}
spec:
  selector: {matchLabels: {app: reviews, version: v3}}
  portLevelMtls: {"9080": {mode: DISABLE}}
`);
    assert.deepEqual(tlsModes(endpoints(p, REVIEWS)), { "127.0.4.1": "istio", "127.0.4.2": "", "127.0.4.3": "" });
    assert.equal(cluster(p, REVIEWS).transportSocketMatches?.length, 2, "the client still matches per endpoint");
  });

  it("workloads without a sidecar: no serviceAccount, or security.istio.io/tlsMode disabled", () => {
    const p = bookinfo(`apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-legacy, namespace: default}
spec: {address: 127.0.4.40, labels: {app: reviews, version: legacy}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-optout, namespace: default}
spec: {address: 127.0.4.41, serviceAccount: bookinfo-reviews, labels: {app: reviews, version: optout, security.istio.io/tlsMode: disabled}}
`);
    const modes = tlsModes(endpoints(p, REVIEWS));
    assert.equal(modes["127.0.4.40"], "");
    assert.equal(modes["127.0.4.41"], "");
    assert.equal(modes["127.0.4.1"], "istio");
  });

  it("mesh-external services and passthrough services without sidecars get no TLS; an all-sidecar passthrough service gets ISTIO_MUTUAL directly", () => {
    const p = bookinfo(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: default}
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: headless, namespace: default}
spec:
  hosts: [headless.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: NONE
  ports: [{number: 9080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: reviews}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: headless-empty, namespace: default}
spec:
  hosts: [empty.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: NONE
  ports: [{number: 9080, name: http, protocol: HTTP}]
`);
    const ext = cluster(p, "outbound|80||api.example.com");
    assert.equal(ext.transportSocket ?? ext.transportSocketMatches, undefined);
    const headless = cluster(p, "outbound|9080||headless.default.svc.cluster.local");
    assert.equal(headless.type, "ORIGINAL_DST");
    assert.equal(headless.transportSocketMatches, undefined, "no socket matches on ORIGINAL_DST (Istio)");
    assert.equal(upstreamContext(headless.transportSocket).sni, "outbound_.9080_._.headless.default.svc.cluster.local");
    const empty = cluster(p, "outbound|9080||empty.default.svc.cluster.local");
    assert.equal(empty.transportSocket ?? empty.transportSocketMatches, undefined);
  });
});

describe("DestinationRule TLS overrides auto mTLS", () => {
  it("golden: destination-rule-all-mtls.yaml — ISTIO_MUTUAL on every cluster, endpoints tlsMode istio", () => {
    const push = bookinfo(sample("destination-rule-all-mtls.yaml"));
    const clusters = buildClusters(productpage(), push).filter((c) => String(c.name).includes("reviews.default"));
    for (const c of clusters) {
      assert.equal(c.transportSocketMatches, undefined, `${c.name}: a user-supplied mode is not auto-detected`);
      assert.equal(c.transportSocket?.name, "envoy.transport_sockets.tls", String(c.name));
    }
    assertGolden("clusters-mtls-dr-all-mtls-reviews", clusters);
    assert.deepEqual(Object.values(tlsModes(endpoints(push, "outbound|9080|v3|reviews.default.svc.cluster.local"))), ["istio"]);
    proxyAccepts(push);
  });

  it("per port and per subset: DISABLE, SIMPLE, ISTIO_MUTUAL", () => {
    const push = bookinfoWithout(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  trafficPolicy:
    tls: {mode: DISABLE}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy: {tls: {mode: ISTIO_MUTUAL, sni: my-sni}}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      portLevelSettings: [{port: {number: 9080}, tls: {mode: SIMPLE, caCertificates: /etc/ca.pem}}]
  - name: v3
    labels: {version: v3}
`);
    const plain = cluster(push, REVIEWS);
    assert.equal(plain.transportSocket ?? plain.transportSocketMatches, undefined, "DISABLE");
    assert.deepEqual(Object.values(tlsModes(endpoints(push, REVIEWS))), ["", "", ""], "DISABLE: the endpoints are not marked");
    const v1 = cluster(push, "outbound|9080|v1|reviews.default.svc.cluster.local");
    assert.equal(upstreamContext(v1.transportSocket).sni, "my-sni");
    assert.deepEqual(Object.values(tlsModes(endpoints(push, "outbound|9080|v1|reviews.default.svc.cluster.local"))), ["istio"]);
    const v2 = cluster(push, "outbound|9080|v2|reviews.default.svc.cluster.local");
    const simple = upstreamContext(v2.transportSocket);
    assert.deepEqual(simple.commonTlsContext?.validationContext?.trustedCa, { filename: "/etc/ca.pem" });
    assert.deepEqual(Object.values(tlsModes(endpoints(push, "outbound|9080|v2|reviews.default.svc.cluster.local"))), [""], "SIMPLE: not Istio mTLS");
    const v3 = cluster(push, "outbound|9080|v3|reviews.default.svc.cluster.local");
    assert.equal(v3.transportSocket ?? v3.transportSocketMatches, undefined, "the rule's DISABLE reaches the subset");
  });

  it("ISTIO_MUTUAL to a workload without a sidecar: the client still uses mTLS, the endpoint is not marked", () => {
    const push = bookinfo(`apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-legacy, namespace: default}
spec: {address: 127.0.4.40, labels: {app: reviews, version: legacy}}
---
${sample("destination-rule-all-mtls.yaml")}`);
    assert.equal(tlsModes(endpoints(push, REVIEWS))["127.0.4.40"], "");
    assert.ok(cluster(push, REVIEWS).transportSocket);
  });
});
