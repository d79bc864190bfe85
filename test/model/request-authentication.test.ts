// Which RequestAuthentications apply to a proxy, as Istio's GetJwtPoliciesForWorkload and
// ShouldAttachPolicy decide: root namespace (mesh-wide, and with a selector for matching workloads of
// every namespace), own namespace, selector subsets, targetRef(s) only for Gateway API gateways in
// the policy's namespace; and the JWT rules sorted by issuer.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Resource } from "../../src/api/resource.js";
import { GATEWAY_NAME_LABEL, parseJwksFetchMode, RequestAuthentications } from "../../src/model/request-authentication.js";
import { resourcesFromYaml } from "../helpers/xds.js";

function ra(name: string, ns: string, spec: string, created?: string): string {
  return `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: ${name}, namespace: ${ns}${created ? `, creationTimestamp: "${created}"` : ""} }
spec:
${spec}
`;
}

const rule = (issuer: string) => `  jwtRules: [{ issuer: "${issuer}", jwksUri: "https://example.com/${issuer}/jwks" }]`;

const POLICIES = resourcesFromYaml(
  [
    ra("mesh", "istio-system", rule("mesh")),
    ra("mesh-sel", "istio-system", `  selector: { matchLabels: { app: httpbin } }\n${rule("mesh-sel")}`),
    ra("foo-all", "foo", rule("foo-all")),
    ra("foo-httpbin", "foo", `  selector: { matchLabels: { app: httpbin } }\n${rule("foo-httpbin")}`),
    ra("foo-v2", "foo", `  selector: { matchLabels: { app: httpbin, version: v2 } }\n${rule("foo-v2")}`),
    ra("bar-all", "bar", rule("bar-all")),
    ra("foo-gw-ref", "foo", `  targetRef: { group: gateway.networking.k8s.io, kind: Gateway, name: foo-gw }\n${rule("foo-gw-ref")}`),
    ra("foo-gw-refs", "foo", `  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: other }, { group: gateway.networking.k8s.io, kind: Gateway, name: foo-gw }]\n${rule("foo-gw-refs")}`),
    ra("foo-svc-ref", "foo", `  targetRefs: [{ kind: Service, name: httpbin }]\n${rule("foo-svc-ref")}`),
    ra("root-gw-ref", "istio-system", `  targetRef: { group: gateway.networking.k8s.io, kind: Gateway, name: foo-gw }\n${rule("root-gw-ref")}`),
  ].join("---\n"),
) as Resource<"RequestAuthentication">[];

describe("RequestAuthentications.forWorkload", () => {
  const index = new RequestAuthentications(POLICIES, "istio-system");
  const cases: Array<{ name: string; ns: string; labels: Record<string, string>; want: string[] }> = [
    { name: "workload without labels: mesh and namespace policies", ns: "foo", labels: {}, want: ["foo-all", "mesh"] },
    { name: "selector subset of the labels", ns: "foo", labels: { app: "httpbin", version: "v1" }, want: ["foo-all", "foo-httpbin", "mesh", "mesh-sel"] },
    { name: "every selector label must match", ns: "foo", labels: { app: "httpbin", version: "v2" }, want: ["foo-all", "foo-httpbin", "foo-v2", "mesh", "mesh-sel"] },
    { name: "root-namespace selector applies in any namespace", ns: "bar", labels: { app: "httpbin" }, want: ["bar-all", "mesh", "mesh-sel"] },
    { name: "other namespace's policies never apply", ns: "baz", labels: { app: "other" }, want: ["mesh"] },
    { name: "a Service targetRef applies to no sidecar (waypoints only)", ns: "foo", labels: { app: "sleep" }, want: ["foo-all", "mesh"] },
    {
      name: "Gateway API gateway: selector-less policies and targetRef(s) naming it in its namespace",
      ns: "foo",
      labels: { [GATEWAY_NAME_LABEL]: "foo-gw" },
      want: ["foo-all", "foo-gw-ref", "foo-gw-refs", "mesh"],
    },
    { name: "Gateway API gateway of another name", ns: "foo", labels: { [GATEWAY_NAME_LABEL]: "bar-gw" }, want: ["foo-all", "mesh"] },
    { name: "targetRef from the root namespace reaches a gateway only in the root namespace", ns: "istio-system", labels: { [GATEWAY_NAME_LABEL]: "foo-gw" }, want: ["mesh", "root-gw-ref"] },
    { name: "an Istio ingress gateway (no Gateway API label) is selected by labels", ns: "istio-system", labels: { istio: "ingressgateway" }, want: ["mesh"] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = index.forWorkload({ namespace: c.ns, labels: c.labels }).map((p) => p.metadata.name);
      assert.deepEqual([...got].sort(), [...c.want].sort());
    });
  }

  it("a gateway's selector-less root policy and the root selector policy follow its labels", () => {
    const got = index.forWorkload({ namespace: "istio-system", labels: { app: "httpbin", [GATEWAY_NAME_LABEL]: "x" } }).map((p) => p.metadata.name);
    assert.deepEqual(got.sort(), ["mesh", "mesh-sel"]);
  });
});

describe("RequestAuthentications.jwtRules", () => {
  it("collects the rules of every policy, sorted by issuer, stable for equal issuers", () => {
    const res = resourcesFromYaml(
      [
        ra("b", "foo", `  jwtRules: [{ issuer: "zeta", jwksUri: "https://z" }, { issuer: "alpha", jwksUri: "https://a/1" }]`, "2024-01-01T00:00:00Z"),
        ra("a", "istio-system", `  jwtRules: [{ issuer: "alpha", jwksUri: "https://a/2" }, { issuer: "mid", jwksUri: "https://m" }]`, "2023-01-01T00:00:00Z"),
        ra("empty", "foo", "  {}"),
      ].join("---\n"),
    ) as Resource<"RequestAuthentication">[];
    const rules = new RequestAuthentications(res, "istio-system").jwtRules({ namespace: "foo", labels: {} });
    assert.deepEqual(
      rules.map((r) => `${r.issuer} ${r.jwksUri ?? r.jwks}`),
      // the workload's namespace is looked at before the root namespace (Istio's lookup order)
      ["alpha https://a/1", "alpha https://a/2", "mid https://m", "zeta https://z"],
    );
  });

  it("an empty index says so", () => {
    assert.equal(new RequestAuthentications([], "istio-system").empty, true);
    assert.equal(new RequestAuthentications(POLICIES, "istio-system").empty, false);
  });
});

describe("parseJwksFetchMode", () => {
  const table: Array<[string, string | undefined]> = [
    ["istiod", "istiod"],
    ["false", "istiod"],
    ["hybrid", "hybrid"],
    ["true", "hybrid"],
    ["envoy", "envoy"],
    ["Envoy", undefined],
    ["", undefined],
  ];
  for (const [input, want] of table) it(JSON.stringify(input), () => assert.equal(parseJwksFetchMode(input), want));
});
