// kubectl's client-side apply through the mesh API's real socket and the `tsmesh` commands: the
// last-applied annotation in `get -o yaml`, managedFields only with --show-managed-fields, the
// writer from --field-manager, a stale resourceVersion printed in kubectl's Conflict shape with
// nothing changed, --server-side refused, the mesh config ConfigMap, and one console line for every
// edit to a folder's copy that an applied copy hides.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { parse } from "yaml";
import type { AnyResource } from "../../src/api/resource.js";
import { MeshApiClient } from "../../src/cli/api-client.js";
import { main } from "../../src/cli/main.js";
import { AppliedLayer, APPLIED_SOURCE, LAST_APPLIED_ANNOTATION } from "../../src/config/applied.js";
import { ConfigStore } from "../../src/config/store.js";
import { MeshApiServer, type ApiStatus } from "../../src/controlplane/api-server.js";
import { analysisMesh, apiSocketPath, meshConfigMapCheck } from "../../src/controlplane/mesh-api.js";
import { defaultStatusRegistry } from "../../src/controlplane/status.js";
import { packageRoot } from "../../src/core/paths.js";
import { DEFAULT_MESH_CONFIG } from "../../src/model/push-context.js";

const DIR = "config:0:dir";
let root: string;
let stateDir: string;
let store: ConfigStore;
let server: MeshApiServer;
const logs: string[] = [];

const dr = (extra = "") => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
${extra}`;

async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main([...argv, "--state-dir", stateDir], (s) => out.push(s), (s) => err.push(s));
  return { code, out, err };
}

function file(name: string, text: string): string {
  const p = join(root, name);
  writeFileSync(p, text);
  return p;
}

/** The folder layer's copy of a VirtualService reviews routing to `subset`. */
function fileVs(subset: string): AnyResource {
  return { apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "reviews", namespace: "default" }, spec: { hosts: ["reviews"], http: [{ route: [{ destination: { host: "reviews", subset } }] }] } };
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), "tsmesh-api-apply-"));
  stateDir = join(root, "state");
  store = new ConfigStore();
  store.addSource(DIR, 0);
  const applied = new AppliedLayer(store, { stateDir, checkMeshConfigMap: meshConfigMapCheck(undefined) });
  applied.load();
  server = new MeshApiServer({
    socketPath: apiSocketPath(stateDir),
    store,
    applied,
    status: defaultStatusRegistry(),
    mesh: () => analysisMesh(DEFAULT_MESH_CONFIG),
    describeSource: (source, r) => (source === APPLIED_SOURCE ? "applied" : `dir/${r.metadata.name}.yaml:1`),
    log: (l) => logs.push(l),
  });
  await server.listen();
});

after(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

test("get -o yaml shows the last-applied annotation, managedFields only with --show-managed-fields; --field-manager names the writer", async () => {
  const f = file("dr.yaml", dr("  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}\n"));
  assert.deepEqual(await cli("apply", "-f", f), { code: 0, out: ["destinationrule.networking.istio.io/reviews created"], err: [] });
  const y = parse((await cli("get", "dr", "reviews", "-o", "yaml")).out.join("\n")) as { metadata: { annotations: Record<string, string>; managedFields?: unknown } };
  assert.match(y.metadata.annotations[LAST_APPLIED_ANNOTATION], /^\{"apiVersion":"networking\.istio\.io\/v1","kind":"DestinationRule","metadata":\{"annotations":\{\},"name":"reviews","namespace":"default"\},"spec":\{.*"trafficPolicy":\{"tls":\{"mode":"ISTIO_MUTUAL"\}\}\}\}\n$/);
  assert.equal(y.metadata.managedFields, undefined);

  // Removed from the file: removed from the mesh, by another field manager.
  writeFileSync(f, dr());
  assert.deepEqual(await cli("apply", "-f", f, "--field-manager", "ci"), { code: 0, out: ["destinationrule.networking.istio.io/reviews configured"], err: [] });
  assert.equal((store.get("DestinationRule", "default", "reviews")!.spec as { trafficPolicy?: unknown }).trafficPolicy, undefined);
  assert.deepEqual((await cli("apply", "-f", f, "--field-manager", "ci")).out, ["destinationrule.networking.istio.io/reviews unchanged"]);
  const shown = JSON.parse((await cli("get", "dr", "-o", "json", "--show-managed-fields")).out.join("\n")) as { items: Array<{ metadata: { managedFields: Array<{ manager: string; operation: string; fieldsType: string; time: string }> } }> };
  assert.deepEqual(
    shown.items[0].metadata.managedFields.map((m) => [m.manager, m.operation, m.fieldsType]),
    [
      ["kubectl-client-side-apply", "Update", "FieldsV1"],
      ["ci", "Update", "FieldsV1"],
    ],
  );
  assert.match(shown.items[0].metadata.managedFields[1].time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
});

test("a stale resourceVersion: kubectl's Conflict, and nothing of the apply is stored", async () => {
  const rv = (parse((await cli("get", "dr", "reviews", "-o", "yaml")).out.join("\n")) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
  const version = store.currentVersion;
  const stale = file(
    "stale.yaml",
    `${dr().replace("  name: reviews\n", "  name: reviews\n  resourceVersion: '1'\n")}---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: ratings}\nspec: {host: ratings}\n`,
  );
  const r = await cli("apply", "-f", stale);
  assert.equal(r.code, 1);
  assert.deepEqual(r.out, []);
  const lines = r.err.join("\n").split("\n");
  assert.equal(lines[0], "Error from server (Conflict): error when applying patch:");
  assert.match(lines[1], /^\{"metadata":\{.*"resourceVersion":"1"\}\}$/);
  assert.deepEqual(lines.slice(2), [
    "to:",
    'Resource: "networking.istio.io/v1, Resource=destinationrules", GroupVersionKind: "networking.istio.io/v1, Kind=DestinationRule"',
    'Name: "reviews", Namespace: "default"',
    `for: ${JSON.stringify(stale.replace(`${process.cwd()}/`, ""))}: error when patching ${JSON.stringify(stale.replace(`${process.cwd()}/`, ""))}: Operation cannot be fulfilled on destinationrules.networking.istio.io "reviews": the object has been modified; please apply your changes to the latest version and try again`,
  ]);
  assert.equal(store.currentVersion, version);
  assert.equal(store.get("DestinationRule", "default", "ratings"), undefined);

  const fresh = file("fresh.yaml", dr().replace("  name: reviews\n", `  name: reviews\n  resourceVersion: '${rv}'\n  labels: {team: a}\n`));
  assert.deepEqual((await cli("apply", "-f", fresh)).out, ["destinationrule.networking.istio.io/reviews configured"]);

  const create = await cli("apply", "-f", file("new.yaml", dr().replace("  name: reviews\n", "  name: details\n  resourceVersion: '5'\n")));
  assert.equal(create.code, 1);
  assert.match(create.err.join("\n"), /^Error from server: error when creating "\S*new\.yaml": resourceVersion should not be set on objects to be created$/);
});

test("--server-side is refused, by the command and by the API; --field-manager and --show-managed-fields only where kubectl takes them", async () => {
  const f = file("ss.yaml", dr());
  const r = await cli("apply", "--server-side", "-f", f);
  assert.equal(r.code, 1);
  assert.match(r.err[0], /^error: --server-side: server-side apply is not supported; tsmesh apply is kubectl's client-side apply/);
  const api = await new MeshApiClient(apiSocketPath(stateDir)).post<unknown>("apply", { yaml: dr(), serverSide: true });
  assert.equal(api.status, 400);
  assert.match((api.body as ApiStatus).message, /server-side apply is not supported/);
  const badManager = await new MeshApiClient(apiSocketPath(stateDir)).post<unknown>("apply", { yaml: dr(), fieldManager: 7 });
  assert.equal(badManager.status, 400);
  assert.equal((await cli("get", "dr", "--field-manager", "x")).code, 2);
  assert.equal((await cli("delete", "dr", "reviews", "--show-managed-fields")).code, 2);
});

test("the mesh config ConfigMap applies (configmap/istio created), another ConfigMap is refused with what to do", async () => {
  // The folder's copy first: get names its file, and delete refuses it (remove it there).
  store.replaceSource(DIR, [], [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "istio", namespace: "istio-system" }, data: { mesh: "" }, source: { file: "dir/mesh.yaml", line: 3 } }]);
  // kubectl's ConfigMap table: DATA (the number of keys), AGE.
  assert.deepEqual((await cli("get", "cm", "-n", "istio-system")).out[0].split(/\s+/), ["NAME", "DATA", "AGE"]);
  assert.match((await cli("get", "cm", "-A", "-o", "wide")).out[1], /^istio-system\s+istio\s+\S+\s+dir\/mesh\.yaml:3\s+<none>$/);
  const fileOnly = await cli("delete", "configmap", "istio", "-n", "istio-system");
  assert.deepEqual(fileOnly.err, ['Error from server (BadRequest): configmaps "istio" is defined in dir/mesh.yaml:3, not applied: remove it there']);

  const cm = file("mesh.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata:\n  mesh: |-\n    accessLogFile: /dev/stdout\n");
  assert.deepEqual(await cli("apply", "-f", cm), { code: 0, out: ["configmap/istio created"], err: [] });
  assert.equal(store.getConfigMap("istio-system", "istio")!.data.mesh, "accessLogFile: /dev/stdout");
  assert.ok(logs.includes("discovery: configmap istio-system/istio created (tsmesh apply)"), logs.join("\n"));
  assert.ok(logs.includes("discovery: configmap istio-system/istio: the applied copy shadows dir/mesh.yaml:3 (`tsmesh delete` it to use the file's again)"), logs.join("\n"));
  // Istio's egress task: kubectl get configmap istio -n istio-system -o yaml.
  const y = parse((await cli("get", "configmap", "istio", "-n", "istio-system", "-o", "yaml")).out.join("\n")) as { apiVersion: string; kind: string; data: { mesh: string }; metadata: Record<string, unknown> & { annotations: Record<string, string> } };
  assert.deepEqual([y.apiVersion, y.kind, y.data.mesh], ["v1", "ConfigMap", "accessLogFile: /dev/stdout"]);
  assert.match(y.metadata.annotations[LAST_APPLIED_ANNOTATION], /^\{"apiVersion":"v1","data":\{"mesh":"accessLogFile: \/dev\/stdout"\},"kind":"ConfigMap"/);
  assert.equal(y.metadata.managedFields, undefined);
  assert.equal("source" in y, false);
  // kubectl's ConfigMap table: DATA (the number of keys), AGE.
  assert.deepEqual((await cli("get", "cm", "-n", "istio-system")).out[0].split(/\s+/), ["NAME", "DATA", "AGE"]);
  assert.match((await cli("get", "cm", "-A", "-o", "wide")).out[1], /^istio-system\s+istio\s+1\s+\S+\s+applied\s+dir\/mesh\.yaml:3$/);
  assert.deepEqual((await cli("get", "cm", "nope")).err, ['Error from server (NotFound): configmaps "nope" not found']);
  const rl = await cli("apply", "-f", file("rl.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ratelimit-config}\ndata: {x: y}\n"));
  assert.equal(rl.code, 1);
  assert.match(rl.err.join("\n"), /ConfigMap default\/ratelimit-config: the mesh reads one ConfigMap, istio-system\/istio .*tsmesh ratelimit's config folder/);
  assert.deepEqual((await cli("delete", "-f", cm)).out, ['configmap "istio" deleted']);
  assert.equal(store.getConfigMap("istio-system", "istio")!.source!.file, "dir/mesh.yaml");
});

test("Istio's bookinfo-versions.yaml Services: apply (service/NAME created), a Deployment beside them warned, get svc as kubectl prints it, delete svc", async () => {
  const versions = readFileSync(join(packageRoot(), "samples/bookinfo/platform/kube/bookinfo-versions.yaml"), "utf8");
  const f = file("versions.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: reviews-v1}\nspec: {}\n---\n" + versions);
  const applied = await cli("apply", "-f", f);
  assert.equal(applied.code, 0, applied.err.join("\n"));
  assert.deepEqual(applied.out, ["reviews-v1", "reviews-v2", "reviews-v3", "productpage-v1", "ratings-v1", "details-v1"].map((n) => `service/${n} created`));
  assert.equal(applied.err.length, 1);
  assert.match(applied.err[0], /Deployment default\/reviews-v1: warning: not read: tsmesh runs workloads from WorkloadEntries .*\[TSMESH_NOT_READ\]/);
  // kubectl's Service table, SELECTOR with -o wide.
  const wide = await cli("get", "svc", "-o", "wide");
  assert.deepEqual(wide.out[0].split(/\s{2,}/).slice(0, 7), ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]);
  assert.match(wide.out.find((l) => l.startsWith("reviews-v2 "))!, /^reviews-v2\s+ClusterIP\s+<none>\s+<none>\s+9080\/TCP\s+\S+\s+app=reviews,version=v2\s+applied/);
  assert.deepEqual((await cli("get", "services.v1", "reviews-v1", "-o", "name")).out, ["service/reviews-v1"]);
  assert.deepEqual((await cli("get", "all", "-o", "name")).out.length, 6);
  assert.deepEqual((await cli("delete", "svc", "reviews-v3")).out, ['service "reviews-v3" deleted']);
  assert.equal(store.get("Service", "default", "reviews-v3"), undefined);
  // delete -f: the Services; the Deployment, never stored, is no error.
  const deleted = await cli("delete", "-f", f);
  assert.deepEqual(deleted.err, ['Error from server (NotFound): error when deleting "' + f + '": services "reviews-v3" not found']);
  assert.equal(deleted.out.length, 5);
  assert.deepEqual(store.list("Service"), []);
});

test("every edit to a folder's copy that the applied copy hides prints one line; a re-save prints none", async () => {
  store.replaceSource(DIR, [fileVs("v1")]);
  const vs = file("vs.yaml", `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v2}\n`);
  const shadowLines = () => logs.filter((l) => l.startsWith("discovery: virtualservice default/reviews") && /shadows/.test(l));
  const before = shadowLines().length;
  assert.equal((await cli("apply", "-f", vs)).code, 0);
  assert.deepEqual(shadowLines().slice(before), ["discovery: virtualservice default/reviews: the applied copy shadows dir/reviews.yaml:1 (`tsmesh delete` it to use the file's again)"]);
  const start = shadowLines().length;
  for (const subset of ["v3", "v4", "v5"]) store.replaceSource(DIR, [fileVs(subset)]);
  store.replaceSource(DIR, [fileVs("v5")]);
  store.replaceSource(DIR, []);
  store.replaceSource(DIR, [fileVs("v6")]);
  assert.deepEqual(shadowLines().slice(start), [
    ...["v3", "v4", "v5"].map(() => "discovery: virtualservice default/reviews changed in dir/reviews.yaml:1: not in force, the applied copy shadows it (`tsmesh delete` the applied one to use the file's)"),
    "discovery: virtualservice default/reviews removed from dir/reviews.yaml:1: not in force, the applied copy shadows it (`tsmesh delete` the applied one to use the file's)",
    "discovery: virtualservice default/reviews added in dir/reviews.yaml:1: not in force, the applied copy shadows it (`tsmesh delete` the applied one to use the file's)",
  ]);
  assert.equal((store.get("VirtualService", "default", "reviews")!.spec as { http: Array<{ route: Array<{ destination: { subset: string } }> }> }).http[0].route[0].destination.subset, "v2");
  // Deleting the applied copy puts the file's in force: no shadow line for that.
  assert.equal((await cli("delete", "-f", vs)).code, 0);
  assert.equal(shadowLines().length, start + 5);
  assert.equal((store.get("VirtualService", "default", "reviews")!.spec as { http: Array<{ route: Array<{ destination: { subset: string } }> }> }).http[0].route[0].destination.subset, "v6");
});
