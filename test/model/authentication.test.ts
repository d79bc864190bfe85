// PeerAuthentication resolution as Istio's (pilot/pkg/model/authentication.go,
// pilot/pkg/security/authn ComposePeerAuthentication): mesh / namespace / workload / port
// precedence, UNSET inheritance, the oldest-wins tie-break, selector policies in the root namespace
// ignored, and the namespace mode auto mTLS infers a service's mode from.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Resource } from "../../src/api/resource.js";
import { AuthenticationPolicies, mtlsModeForPort, type MutualTLSMode } from "../../src/model/authentication.js";
import { resourcesFromYaml } from "../helpers/xds.js";

type Mode = "UNSET" | "DISABLE" | "PERMISSIVE" | "STRICT";

interface PaSpec {
  ns: string;
  name?: string;
  mode?: Mode;
  selector?: Record<string, string>;
  ports?: Record<number, Mode>;
  /** RFC 3339 creation time (files have none). */
  created?: string;
}

function pa(p: PaSpec, i: number): string {
  const meta = [`name: ${p.name ?? `pa-${i}`}`, `namespace: ${p.ns}`];
  if (p.created) meta.push(`creationTimestamp: "${p.created}"`);
  const spec: string[] = [];
  if (p.selector) spec.push(`  selector: { matchLabels: ${JSON.stringify(p.selector)} }`);
  if (p.mode) spec.push(`  mtls: { mode: ${p.mode} }`);
  if (p.ports) spec.push(`  portLevelMtls: { ${Object.entries(p.ports).map(([k, v]) => `"${k}": { mode: ${v} }`).join(", ")} }`);
  return `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { ${meta.join(", ")} }
spec:
${spec.length ? spec.join("\n") : "  {}"}
`;
}

function policies(list: PaSpec[], root = "istio-system"): AuthenticationPolicies {
  if (list.length === 0) return new AuthenticationPolicies([], root);
  const res = resourcesFromYaml(list.map(pa).join("---\n")) as Resource<"PeerAuthentication">[];
  return new AuthenticationPolicies(res, root);
}

const WORKLOAD = { ns: "foo", labels: { app: "httpbin", version: "v1" } };

describe("PeerAuthentication: the mode a workload port accepts", () => {
  const cases: { name: string; pas: PaSpec[]; port?: number; want: MutualTLSMode; root?: string }[] = [
    { name: "no policy: PERMISSIVE", pas: [], want: "PERMISSIVE" },
    { name: "mesh STRICT", pas: [{ ns: "istio-system", mode: "STRICT" }], want: "STRICT" },
    { name: "mesh UNSET: PERMISSIVE", pas: [{ ns: "istio-system", mode: "UNSET" }], want: "PERMISSIVE" },
    { name: "mesh without mtls: PERMISSIVE", pas: [{ ns: "istio-system" }], want: "PERMISSIVE" },
    { name: "namespace overrides mesh", pas: [{ ns: "istio-system", mode: "STRICT" }, { ns: "foo", mode: "PERMISSIVE" }], want: "PERMISSIVE" },
    { name: "namespace UNSET inherits the mesh", pas: [{ ns: "istio-system", mode: "STRICT" }, { ns: "foo", mode: "UNSET" }], want: "STRICT" },
    { name: "another namespace's policy does not apply", pas: [{ ns: "bar", mode: "STRICT" }], want: "PERMISSIVE" },
    { name: "workload overrides namespace", pas: [{ ns: "foo", mode: "STRICT" }, { ns: "foo", selector: { app: "httpbin" }, mode: "DISABLE" }], want: "DISABLE" },
    { name: "workload UNSET inherits namespace", pas: [{ ns: "foo", mode: "STRICT" }, { ns: "foo", selector: { app: "httpbin" }, mode: "UNSET" }], want: "STRICT" },
    { name: "selector that does not match", pas: [{ ns: "foo", selector: { app: "other" }, mode: "STRICT" }], want: "PERMISSIVE" },
    { name: "selector policy in the root namespace is ignored", pas: [{ ns: "istio-system", selector: { app: "httpbin" }, mode: "STRICT" }], want: "PERMISSIVE" },
    {
      name: "port level overrides the workload for that port",
      pas: [{ ns: "foo", selector: { app: "httpbin" }, mode: "STRICT", ports: { 80: "DISABLE" } }],
      port: 80,
      want: "DISABLE",
    },
    {
      name: "port level leaves other ports alone",
      pas: [{ ns: "foo", selector: { app: "httpbin" }, mode: "STRICT", ports: { 80: "DISABLE" } }],
      port: 81,
      want: "STRICT",
    },
    {
      name: "UNSET port inherits the workload's resolved mode (itself inherited from the namespace)",
      pas: [{ ns: "foo", mode: "DISABLE" }, { ns: "foo", selector: { app: "httpbin" }, ports: { 80: "UNSET" } }],
      port: 80,
      want: "DISABLE",
    },
    {
      name: "oldest namespace policy wins",
      pas: [
        { ns: "foo", name: "newer", mode: "DISABLE", created: "2024-01-02T00:00:00Z" },
        { ns: "foo", name: "older", mode: "STRICT", created: "2024-01-01T00:00:00Z" },
      ],
      want: "STRICT",
    },
    {
      name: "oldest workload policy wins",
      pas: [
        { ns: "foo", name: "a", selector: { app: "httpbin" }, mode: "DISABLE", created: "2024-01-02T00:00:00Z" },
        { ns: "foo", name: "b", selector: { version: "v1" }, mode: "STRICT", created: "2024-01-01T00:00:00Z" },
      ],
      want: "STRICT",
    },
    {
      name: "same creation time: first by name wins",
      pas: [
        { ns: "foo", name: "zz", selector: { app: "httpbin" }, mode: "DISABLE" },
        { ns: "foo", name: "aa", selector: { version: "v1" }, mode: "STRICT" },
      ],
      want: "STRICT",
    },
    { name: "root namespace from mesh config", pas: [{ ns: "mesh-root", mode: "STRICT" }], root: "mesh-root", want: "STRICT" },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = policies(c.pas, c.root).effective(WORKLOAD.ns, WORKLOAD.labels);
      assert.equal(mtlsModeForPort(p, c.port ?? 8000), c.want);
    });
  }
});

describe("PeerAuthentication: namespace mode (what auto mTLS infers for a service)", () => {
  const cases: { name: string; pas: PaSpec[]; ns?: string; want: MutualTLSMode }[] = [
    { name: "nothing: UNKNOWN", pas: [], want: "UNKNOWN" },
    { name: "mesh STRICT", pas: [{ ns: "istio-system", mode: "STRICT" }], want: "STRICT" },
    { name: "mesh UNSET: PERMISSIVE", pas: [{ ns: "istio-system" }], want: "PERMISSIVE" },
    { name: "namespace DISABLE over mesh STRICT", pas: [{ ns: "istio-system", mode: "STRICT" }, { ns: "foo", mode: "DISABLE" }], want: "DISABLE" },
    { name: "namespace UNSET without mesh: PERMISSIVE", pas: [{ ns: "foo", mode: "UNSET" }], want: "PERMISSIVE" },
    { name: "workload policies do not count", pas: [{ ns: "foo", selector: { app: "httpbin" }, mode: "DISABLE" }], want: "UNKNOWN" },
    { name: "other namespaces fall back to the mesh", pas: [{ ns: "istio-system", mode: "STRICT" }, { ns: "foo", mode: "DISABLE" }], ns: "bar", want: "STRICT" },
    {
      name: "oldest namespace policy wins",
      pas: [
        { ns: "foo", name: "b", mode: "DISABLE", created: "2024-01-02T00:00:00Z" },
        { ns: "foo", name: "a", mode: "STRICT", created: "2024-01-03T00:00:00Z" },
      ],
      want: "DISABLE",
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(policies(c.pas).namespaceMutualTLSMode(c.ns ?? "foo"), c.want));
  }

  it("reports the namespace policies left out by an older one, and selector policies in the root namespace", () => {
    const p = policies([
      { ns: "foo", name: "second", mode: "DISABLE", created: "2024-01-02T00:00:00Z" },
      { ns: "foo", name: "first", mode: "STRICT", created: "2024-01-01T00:00:00Z" },
      { ns: "istio-system", name: "selecting", selector: { app: "x" }, mode: "STRICT" },
    ]);
    assert.deepEqual(p.shadowed, [{ policy: "foo/second", kept: "foo/first" }]);
    assert.deepEqual(p.warnings, [
      "PeerAuthentication foo/second is ignored: foo/first is older and also applies to the whole namespace (the oldest wins)",
      "PeerAuthentication istio-system/selecting is ignored: a policy with a selector in the root namespace (istio-system) applies to no workload, as in Istio",
    ]);
  });
});

describe("PeerAuthentication: Istio's authentication tasks", () => {
  // authentication-authn-policy.snips.sh: "httpbin" in bar, STRICT with port 80 (the workload's port) DISABLE.
  const task = `
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: "httpbin"
  namespace: "bar"
spec:
  selector:
    matchLabels:
      app: httpbin
  mtls:
    mode: STRICT
  portLevelMtls:
    80:
      mode: DISABLE
`;
  it("workload STRICT with a DISABLE port", () => {
    const p = new AuthenticationPolicies(resourcesFromYaml(task) as Resource<"PeerAuthentication">[], "istio-system").effective("bar", { app: "httpbin" });
    assert.equal(mtlsModeForPort(p, 80), "DISABLE");
    assert.equal(mtlsModeForPort(p, 8000), "STRICT");
    assert.deepEqual(p.sources, ["bar/httpbin"]);
  });
});
