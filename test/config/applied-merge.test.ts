// The applied layer as kubectl's client-side apply: the last-applied-configuration annotation, the
// three-way merge against what is stored, resourceVersion conflicts (all or nothing), managedFields
// per field manager, and the mesh config ConfigMap.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { stringify } from "yaml";
import { AppliedLayer, LAST_APPLIED_ANNOTATION, refsOf } from "../../src/config/applied.js";
import type { ManagedFieldsEntry } from "../../src/config/managed-fields.js";
import { ConfigStore } from "../../src/config/store.js";
import { meshConfigMapCheck } from "../../src/controlplane/mesh-api.js";

/** A DestinationRule's spec, for reading fields without narrowing the resource. */
function drSpec(layer: AppliedLayer, store?: ConfigStore): { exportTo?: string[]; trafficPolicy?: { tls?: { mode?: string } } } {
  return (store ? store.get("DestinationRule", "default", "reviews")! : layer.get("DestinationRule", "default", "reviews")!).spec as never;
}

function fixture(meshConfigFile?: string) {
  const stateDir = mkdtempSync(join(tmpdir(), "tsmesh-applied-merge-"));
  const store = new ConfigStore();
  let t = Date.parse("2026-03-04T05:06:07Z");
  const layer = new AppliedLayer(store, { stateDir, now: () => new Date((t += 60_000)), checkMeshConfigMap: meshConfigMapCheck(meshConfigFile) });
  layer.load();
  return { stateDir, store, layer, done: () => rmSync(stateDir, { recursive: true, force: true }) };
}

const DR = (extra = "") => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
  - name: v1
    labels: {version: v1}
${extra}`;
const TLS = "  trafficPolicy:\n    tls: {mode: ISTIO_MUTUAL}\n";

function meta(layer: AppliedLayer, kind = "DestinationRule", name = "reviews", namespace = "default") {
  return layer.get(kind, namespace, name)!.metadata as unknown as { annotations?: Record<string, string>; managedFields?: ManagedFieldsEntry[]; resourceVersion?: string };
}

test("apply stores kubectl's last-applied-configuration: the file as sorted compact JSON, annotations {}, the namespace filled in", () => {
  const f = fixture();
  try {
    assert.ok(f.layer.apply(DR(), "dr.yaml").ok);
    assert.equal(
      meta(f.layer).annotations![LAST_APPLIED_ANNOTATION],
      '{"apiVersion":"networking.istio.io/v1","kind":"DestinationRule","metadata":{"annotations":{},"name":"reviews","namespace":"default"},"spec":{"host":"reviews","subsets":[{"labels":{"version":"v1"},"name":"v1"}]}}\n',
    );
    // The user's own annotations are kept beside it; the mesh's store sees them too.
    assert.ok(f.layer.apply(DR().replace("  name: reviews\n", "  name: reviews\n  annotations: {team: a}\n"), "dr.yaml").ok);
    const a = meta(f.layer).annotations!;
    assert.equal(a.team, "a");
    assert.match(a[LAST_APPLIED_ANNOTATION], /"annotations":\{"team":"a"\}/);
    assert.equal(f.store.get("DestinationRule", "default", "reviews")!.metadata.annotations!.team, "a");
  } finally {
    f.done();
  }
});

test("a field removed from the file is removed; the same file again is unchanged; null clears a field", () => {
  const f = fixture();
  try {
    assert.deepEqual(okOutcomes(f.layer.apply(DR(TLS), "dr.yaml")), ["created"]);
    assert.deepEqual(okOutcomes(f.layer.apply(DR(), "dr.yaml")), ["configured"]);
    assert.equal(drSpec(f.layer, f.store).trafficPolicy, undefined);
    const rv = meta(f.layer).resourceVersion;
    const version = f.store.currentVersion;
    assert.deepEqual(okOutcomes(f.layer.apply(DR(), "dr.yaml")), ["unchanged"]);
    assert.equal(meta(f.layer).resourceVersion, rv);
    assert.equal(f.store.currentVersion, version);
    assert.deepEqual(okOutcomes(f.layer.apply(DR(TLS), "dr.yaml")), ["configured"]);
    // null deletes when patching; creating with a null is the schema's error, as the API server's.
    assert.deepEqual(okOutcomes(f.layer.apply(DR("  trafficPolicy: null\n"), "dr.yaml")), ["configured"]);
    const created = f.layer.apply(DR("  trafficPolicy: null\n").replace("name: reviews", "name: other"), "dr.yaml");
    assert.ok(!created.ok && /dr\.yaml:10:3 .*spec\.trafficPolicy: Invalid value: "null"/.test(created.errors[0]), JSON.stringify(created));
    assert.equal(drSpec(f.layer).trafficPolicy, undefined);
  } finally {
    f.done();
  }
});

test("fields another writer set are kept (the stored object carries a field no apply set); a missing annotation is warned of and written", () => {
  const f = fixture();
  try {
    // What an older tsmesh stored (no annotation), with a field set by someone other than this file.
    const stored = {
      apiVersion: "networking.istio.io/v1",
      kind: "DestinationRule",
      metadata: { name: "reviews", namespace: "default", generation: 1, resourceVersion: "4", uid: "11111111-2222-3333-4444-555555555555", creationTimestamp: "2026-01-01T00:00:00Z" },
      spec: { host: "reviews", exportTo: ["."], subsets: [{ name: "v1", labels: { version: "v1" } }] },
    };
    writeFileSync(join(f.stateDir, "applied", "DestinationRule.default.reviews.yaml"), stringify(stored));
    const store = new ConfigStore();
    const layer = new AppliedLayer(store, { stateDir: f.stateDir });
    assert.deepEqual(layer.load(), []);
    const r = layer.apply(DR(TLS), "dr.yaml");
    assert.ok(r.ok);
    assert.match(r.warnings.join("\n"), /resource destinationrules\/reviews is missing the kubectl\.kubernetes\.io\/last-applied-configuration annotation .* The missing annotation will be patched automatically\./);
    const live = layer.get("DestinationRule", "default", "reviews")!;
    assert.deepEqual(drSpec(layer).exportTo, ["."]);
    assert.equal(drSpec(layer).trafficPolicy!.tls!.mode, "ISTIO_MUTUAL");
    assert.equal(live.metadata.uid, stored.metadata.uid);
    assert.equal(live.metadata.generation, 2);
    // Now the annotation exists: dropping TLS from the file removes it, exportTo (never applied) stays.
    const again = layer.apply(DR(), "dr.yaml");
    assert.ok(again.ok && again.warnings.length === 0);
    assert.deepEqual(drSpec(layer).exportTo, ["."]);
    assert.equal(drSpec(layer).trafficPolicy, undefined);
  } finally {
    f.done();
  }
});

const conflicts: Array<{ name: string; docs: (rv: string) => string; code: number; message: RegExp }> = [
  {
    name: "a stale resourceVersion is a Conflict, as the API server refuses a stale patch",
    docs: () => DR(TLS).replace("  name: reviews\n", "  name: reviews\n  resourceVersion: '1'\n"),
    code: 409,
    message: /^Operation cannot be fulfilled on destinationrules\.networking\.istio\.io "reviews": the object has been modified; please apply your changes to the latest version and try again$/,
  },
  {
    name: "a valid document before the stale one is not stored either (all or nothing)",
    docs: () => `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ratings}\nspec: {hosts: [ratings], http: [{route: [{destination: {host: ratings}}]}]}\n---\n${DR(TLS).replace("  name: reviews\n", "  name: reviews\n  resourceVersion: '999'\n")}`,
    code: 409,
    message: /the object has been modified/,
  },
  {
    name: "another object's uid is refused: uid is immutable",
    docs: () => DR(TLS).replace("  name: reviews\n", "  name: reviews\n  uid: 00000000-0000-0000-0000-000000000000\n"),
    code: 422,
    message: /^DestinationRule\.networking\.istio\.io "reviews" is invalid: metadata\.uid: Invalid value: "00000000-0000-0000-0000-000000000000": field is immutable$/,
  },
  {
    name: "a resourceVersion on an object to be created is refused",
    docs: () => DR().replace("  name: reviews\n", "  name: details\n  resourceVersion: '3'\n"),
    code: 500,
    message: /^resourceVersion should not be set on objects to be created$/,
  },
];

for (const c of conflicts) {
  test(`conflict: ${c.name}`, () => {
    const f = fixture();
    try {
      assert.ok(f.layer.apply(DR(), "dr.yaml").ok);
      assert.ok(f.layer.apply(DR(TLS), "dr.yaml").ok);
      const rv = meta(f.layer).resourceVersion!;
      const version = f.store.currentVersion;
      const files = readdirSync(join(f.stateDir, "applied")).sort();
      const r = f.layer.apply(c.docs(rv), "stale.yaml");
      assert.equal(r.ok, false);
      assert.ok(!r.ok && r.refusal);
      assert.equal(r.refusal.code, c.code);
      assert.match(r.refusal.message, c.message);
      assert.equal(r.refusal.file, "stale.yaml");
      if (c.code !== 500) {
        assert.equal(r.refusal.verb, "patching");
        assert.equal(r.refusal.kind, "DestinationRule");
        assert.equal(r.refusal.resource, "destinationrules");
        assert.equal(r.refusal.group, "networking.istio.io");
        assert.match(r.refusal.patch!, c.code === 409 ? /"resourceVersion":"(1|999)"/ : /"uid":"0{8}-/);
      } else assert.equal(r.refusal.verb, "creating");
      assert.equal(meta(f.layer).resourceVersion, rv);
      assert.equal(f.store.currentVersion, version);
      assert.equal(f.layer.get("VirtualService", "default", "ratings"), undefined);
      assert.deepEqual(readdirSync(join(f.stateDir, "applied")).sort(), files);
      // The current resourceVersion passes.
      const fresh = f.layer.apply(DR().replace("  name: reviews\n", `  name: reviews\n  resourceVersion: '${rv}'\n`), "fresh.yaml");
      assert.ok(fresh.ok, JSON.stringify(fresh));
    } finally {
      f.done();
    }
  });
}

test("managedFields: kubectl-client-side-apply by default, one Update entry per field manager, fields moving to the writer that changes them", () => {
  const f = fixture();
  try {
    assert.ok(f.layer.apply(DR(), "dr.yaml").ok);
    const first = meta(f.layer).managedFields!;
    assert.equal(first.length, 1);
    assert.deepEqual(
      { ...first[0], fieldsV1: undefined },
      { manager: "kubectl-client-side-apply", operation: "Update", apiVersion: "networking.istio.io/v1", time: "2026-03-04T05:07:07Z", fieldsType: "FieldsV1", fieldsV1: undefined },
    );
    assert.deepEqual(first[0].fieldsV1, {
      "f:metadata": { "f:annotations": { ".": {}, [`f:${LAST_APPLIED_ANNOTATION}`]: {} } },
      "f:spec": { ".": {}, "f:host": {}, "f:subsets": {} },
    });
    // Another manager changes the subsets and adds TLS: it owns those now, the first keeps the rest.
    const r = f.layer.apply(DR(TLS).replace("version: v1}", "version: v1, tier: a}"), "dr.yaml", { fieldManager: "ci" });
    assert.ok(r.ok);
    const entries = meta(f.layer).managedFields!;
    assert.deepEqual(entries.map((e) => [e.manager, e.operation, e.time]), [
      ["kubectl-client-side-apply", "Update", "2026-03-04T05:07:07Z"],
      ["ci", "Update", "2026-03-04T05:08:07Z"],
    ]);
    assert.deepEqual(entries[0].fieldsV1, { "f:metadata": { "f:annotations": { ".": {} } }, "f:spec": { ".": {}, "f:host": {} } });
    assert.ok("f:trafficPolicy" in (entries[1].fieldsV1["f:spec"] as object));
    // managedFields stay out of the mesh's store.
    assert.equal((f.store.get("DestinationRule", "default", "reviews")!.metadata as { managedFields?: unknown }).managedFields, undefined);
    // An unchanged apply records nothing new.
    assert.ok(f.layer.apply(DR(TLS).replace("version: v1}", "version: v1, tier: a}"), "dr.yaml", { fieldManager: "ci" }).ok);
    assert.deepEqual(meta(f.layer).managedFields, entries);
    const bad = f.layer.apply(DR(), "dr.yaml", { fieldManager: "x".repeat(129) });
    assert.ok(!bad.ok && /fieldManager: Too long/.test(bad.errors[0]));
  } finally {
    f.done();
  }
});

const MESH_CM = (mesh: string) => `apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: istio-system
data:
  mesh: |-
${mesh
  .split("\n")
  .map((l) => `    ${l}`)
  .join("\n")}
`;

test("the mesh config ConfigMap istio-system/istio is applied over the folders' copy, merged, deleted; other ConfigMaps and a bad data.mesh are refused", () => {
  const f = fixture();
  try {
    f.store.addSource("config:0:dir", 0);
    f.store.replaceSource("config:0:dir", [], [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "istio", namespace: "istio-system" }, data: { mesh: "accessLogFile: ''" }, source: { file: "mesh.yaml", line: 1 } }]);
    const r = f.layer.apply(MESH_CM("accessLogFile: /dev/stdout\noutboundTrafficPolicy:\n  mode: REGISTRY_ONLY"), "cm.yaml");
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(r.changes.map((c) => [c.resource.kind, c.outcome]), [["ConfigMap", "created"]]);
    const cm = f.store.getConfigMap("istio-system", "istio")!;
    assert.match(cm.data.mesh, /REGISTRY_ONLY/);
    assert.equal(cm.source!.file, "applied");
    assert.equal((f.layer.get("ConfigMap", "istio-system", "istio")!.metadata as { generation?: number }).generation, undefined);
    assert.deepEqual(okOutcomes(f.layer.apply(MESH_CM("accessLogFile: /dev/stdout\noutboundTrafficPolicy:\n  mode: REGISTRY_ONLY"), "cm.yaml", { namespace: "istio-system" })), ["unchanged"]);
    const elsewhere = f.layer.apply(MESH_CM("accessLogFile: ''").replace("  namespace: istio-system\n", ""), "cm.yaml", { namespace: "prod" });
    assert.ok(!elsewhere.ok && /ConfigMap prod\/istio: the mesh reads one ConfigMap/.test(elsewhere.errors[0]), JSON.stringify(elsewhere));

    const other = f.layer.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ratelimit-config}\ndata: {config.yaml: 'domain: x'}\n", "rl.yaml");
    assert.ok(!other.ok && /ConfigMap default\/ratelimit-config: the mesh reads one ConfigMap, istio-system\/istio/.test(other.errors[0]), JSON.stringify(other));
    const broken = f.layer.apply(MESH_CM("outboundTrafficPolicy:\n  mode: SOMETIMES"), "cm.yaml");
    assert.ok(!broken.ok && /cm\.yaml:1 \(document 0\) ConfigMap istio-system\/istio: data\.mesh: .*outboundTrafficPolicy\.mode/.test(broken.errors.join("\n")), JSON.stringify(broken));
    assert.match(f.store.getConfigMap("istio-system", "istio")!.data.mesh, /REGISTRY_ONLY/);

    const d = f.layer.delete(refsOf(MESH_CM(""), "cm.yaml").refs);
    assert.equal(d.deleted.length, 1);
    assert.equal(f.store.getConfigMap("istio-system", "istio")!.source!.file, "mesh.yaml");
  } finally {
    f.done();
  }
  const withFile = fixture("/etc/mesh.yaml");
  try {
    const r = withFile.layer.apply(MESH_CM("accessLogFile: /dev/stdout"), "cm.yaml");
    assert.ok(r.ok && /ConfigMap istio-system\/istio: stored, but not in force: the mesh config comes from --mesh-config \/etc\/mesh\.yaml/.test(r.warnings.join("\n")), JSON.stringify(r));
  } finally {
    withFile.done();
  }
});

function okOutcomes(r: ReturnType<AppliedLayer["apply"]>): string[] {
  assert.ok(r.ok, JSON.stringify(r));
  return r.changes.map((c) => c.outcome);
}

test("the schema's defaults are filled in the stored object (as the API server defaults a custom resource), not in the annotation; re-applying is unchanged", () => {
  const f = fixture();
  try {
    const gw = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  gatewayClassName: istio\n  listeners:\n  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {}}}\n";
    assert.deepEqual(okOutcomes(f.layer.apply(gw, "gw.yaml")), ["created"]);
    const stored = f.layer.get("KubernetesGateway", "default", "gw")!;
    const listener = (stored.spec as { listeners: Array<{ allowedRoutes: { namespaces: { from?: string } } }> }).listeners[0];
    assert.equal(listener.allowedRoutes.namespaces.from, "Same");
    assert.doesNotMatch(stored.metadata.annotations![LAST_APPLIED_ANNOTATION], /Same/);
    assert.match(stored.metadata.annotations![LAST_APPLIED_ANNOTATION], /^\{"apiVersion":"gateway\.networking\.k8s\.io\/v1","kind":"Gateway",/);
    assert.deepEqual(okOutcomes(f.layer.apply(gw, "gw.yaml")), ["unchanged"]);
  } finally {
    f.done();
  }
});

test("a restart restores the annotation, managedFields, a Gateway API Gateway and the mesh ConfigMap as stored", () => {
  const f = fixture();
  try {
    const gw = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  gatewayClassName: istio\n  listeners:\n  - {name: http, port: 80, protocol: HTTP}\n";
    assert.ok(f.layer.apply(`${gw}---\n${DR()}---\n${MESH_CM("accessLogFile: /dev/stdout")}`, "all.yaml", { fieldManager: "ci" }).ok);
    const store = new ConfigStore();
    const restarted = new AppliedLayer(store, { stateDir: f.stateDir });
    assert.deepEqual(restarted.load(), []);
    for (const [kind, ns, name] of [
      ["KubernetesGateway", "default", "gw"],
      ["DestinationRule", "default", "reviews"],
      ["ConfigMap", "istio-system", "istio"],
    ])
      assert.deepEqual(restarted.get(kind, ns, name), f.layer.get(kind, ns, name), kind);
    assert.equal(meta(restarted).managedFields![0].manager, "ci");
    assert.equal(store.getConfigMap("istio-system", "istio")!.data.mesh, "accessLogFile: /dev/stdout");
    assert.equal(store.sourceOf("KubernetesGateway", "default", "gw"), "applied");
    // Nothing changed by the restart: the same files again are unchanged.
    const again = restarted.apply(`${gw}---\n${DR()}---\n${MESH_CM("accessLogFile: /dev/stdout")}`, "all.yaml", { fieldManager: "ci" });
    assert.deepEqual(okOutcomes(again), ["unchanged", "unchanged", "unchanged"]);
  } finally {
    f.done();
  }
});
