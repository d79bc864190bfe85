// Which AuthorizationPolicies apply to a workload (Istio's ListAuthorizationPolicies and
// WorkloadPolicyMatcher): root namespace, namespace, selector, targetRef(s) — a table of workloads
// and the policies each gets, by action, oldest first.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AuthorizationPolicies, GATEWAY_NAME_LABEL, type AuthorizationPolicy } from "../../src/model/authorization.js";
import { resourcesFromYaml } from "../helpers/xds.js";

const POLICIES = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: mesh-wide, namespace: istio-system, creationTimestamp: "2024-01-01T00:00:03Z"}
spec: {action: DENY, rules: [{to: [{operation: {methods: [TRACE]}}]}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: root-selector, namespace: istio-system, creationTimestamp: "2024-01-01T00:00:01Z"}
spec: {selector: {matchLabels: {app: httpbin}}, action: AUDIT, rules: [{}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: foo-all, namespace: foo, creationTimestamp: "2024-01-01T00:00:02Z"}
spec: {}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: foo-httpbin, namespace: foo, creationTimestamp: "2024-01-01T00:00:01Z"}
spec: {selector: {matchLabels: {app: httpbin, version: v1}}, rules: [{from: [{source: {namespaces: [foo]}}]}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: foo-ext, namespace: foo}
spec: {selector: {matchLabels: {app: httpbin}}, action: CUSTOM, provider: {name: ext}, rules: [{}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: gw-target, namespace: foo}
spec: {targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}], action: DENY, rules: [{}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: gw-target-ns, namespace: foo}
spec: {targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: gw}, rules: [{}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: svc-target, namespace: foo}
spec: {targetRef: {kind: Service, name: httpbin}, rules: [{}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: bar-all, namespace: bar}
spec: {action: DENY, rules: [{}]}
`;

const index = new AuthorizationPolicies(resourcesFromYaml(POLICIES) as AuthorizationPolicy[], "istio-system");

const names = (ps: AuthorizationPolicy[]) => ps.map((p) => `${p.metadata.namespace}/${p.metadata.name}`);

const cases: Array<{ name: string; namespace: string; labels: Record<string, string>; want: { custom?: string[]; deny?: string[]; allow?: string[]; audit?: string[] } }> = [
  {
    name: "a sidecar matching every selector: root namespace first, then its own, oldest first",
    namespace: "foo",
    labels: { app: "httpbin", version: "v1" },
    want: { custom: ["foo/foo-ext"], deny: ["istio-system/mesh-wide"], allow: ["foo/foo-httpbin", "foo/foo-all"], audit: ["istio-system/root-selector"] },
  },
  {
    name: "a root namespace selector applies in every namespace (unlike PeerAuthentication)",
    namespace: "bar",
    labels: { app: "httpbin" },
    want: { deny: ["istio-system/mesh-wide", "bar/bar-all"], audit: ["istio-system/root-selector"] },
  },
  {
    name: "a selector must match every label it names",
    namespace: "foo",
    labels: { app: "httpbin", version: "v2" },
    want: { custom: ["foo/foo-ext"], deny: ["istio-system/mesh-wide"], allow: ["foo/foo-all"], audit: ["istio-system/root-selector"] },
  },
  { name: "another namespace gets the mesh-wide policies only", namespace: "baz", labels: { app: "sleep" }, want: { deny: ["istio-system/mesh-wide"] } },
  {
    name: "a Gateway API gateway: targetRefs naming its Gateway, in the policy's namespace, plus selector policies",
    namespace: "foo",
    labels: { [GATEWAY_NAME_LABEL]: "gw" },
    // (A policy without creationTimestamp sorts as the oldest, as Istio's zero time does.)
    want: { deny: ["istio-system/mesh-wide", "foo/gw-target"], allow: ["foo/gw-target-ns", "foo/foo-all"] },
  },
  { name: "another Gateway's workload: no targetRef policy", namespace: "foo", labels: { [GATEWAY_NAME_LABEL]: "other" }, want: { deny: ["istio-system/mesh-wide"], allow: ["foo/foo-all"] } },
  { name: "a gateway of that name in another namespace: targetRefs stay in their namespace", namespace: "bar", labels: { [GATEWAY_NAME_LABEL]: "gw" }, want: { deny: ["istio-system/mesh-wide", "bar/bar-all"] } },
];

describe("AuthorizationPolicies.forWorkload", () => {
  for (const c of cases) {
    it(c.name, () => {
      const r = index.forWorkload({ namespace: c.namespace, labels: c.labels });
      assert.deepEqual(
        { custom: names(r.custom), deny: names(r.deny), allow: names(r.allow), audit: names(r.audit) },
        { custom: c.want.custom ?? [], deny: c.want.deny ?? [], allow: c.want.allow ?? [], audit: c.want.audit ?? [] },
      );
    });
  }

  it("a Service targetRef (waypoints only) applies to no sidecar or gateway", () => {
    for (const labels of [{ app: "httpbin" }, { [GATEWAY_NAME_LABEL]: "httpbin" }] as Array<Record<string, string>>) {
      const r = index.forWorkload({ namespace: "foo", labels });
      assert.ok(![...r.allow, ...r.deny].some((p) => p.metadata.name === "svc-target"), JSON.stringify(labels));
    }
  });
});
