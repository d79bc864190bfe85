// The mesh API on its real Unix socket, behind a real control plane: apply/get/delete through the
// `tsmesh` commands (kubectl's output shapes, -o jsonpath and custom-columns as Istio's tasks use
// them, -l selected by the API), the Status errors, source and shadowing, status from analyze,
// bounds on bodies, the socket's permissions, and the socket gone after stop.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { parse } from "yaml";
import { MeshApiClient } from "../../src/cli/api-client.js";
import { main } from "../../src/cli/main.js";
import { packageRoot } from "../../src/core/paths.js";
import { Discovery } from "../../src/controlplane/discovery.js";
import { MeshApiServer, type ApiStatus } from "../../src/controlplane/api-server.js";

/** A VirtualService routing all of `host` to one subset (nine lines). */
const vs = (host: string, subset: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${host}
spec:
  hosts: [${host}]
  http:
  - route:
    - destination: {host: ${host}, subset: ${subset}}
`;

const FILE_VS = `${vs("reviews", "v3")}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
`;

const APPLIED_VS = `${vs("reviews", "v1")}---\n${vs("ratings", "v9")}`;

let root: string;
let stateDir: string;
let discovery: Discovery;
const logs: string[] = [];

async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, (s) => out.push(s), (s) => err.push(s));
  return { code, out, err };
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), "tsmesh-api-"));
  stateDir = join(root, "state");
  mkdirSync(join(root, "config"));
  writeFileSync(join(root, "config", "reviews.yaml"), FILE_VS);
  writeFileSync(join(root, "applied.yaml"), APPLIED_VS);
  discovery = new Discovery({ configPaths: [join(root, "config")], stateDir, secureXdsAddress: "", xdsAddress: "127.0.0.1:0", monitoringAddress: "", debounceQuietMs: 10, watch: false, log: (l) => logs.push(l) });
  await discovery.start();
});

after(async () => {
  await discovery?.close();
  rmSync(root, { recursive: true, force: true });
});

test("the socket is owner-only in an owner-only state folder", () => {
  assert.equal(statSync(join(stateDir, "api.sock")).mode & 0o777, 0o600);
  assert.equal(statSync(stateDir).mode & 0o077, 0);
});

test("apply, get and delete as kubectl prints them; the applied copy shadows the file's", async () => {
  const dry = await cli("apply", "-f", join(root, "applied.yaml"), "--state-dir", stateDir, "--dry-run=server");
  assert.deepEqual(dry, { code: 0, out: ["virtualservice.networking.istio.io/reviews created (server dry run)", "virtualservice.networking.istio.io/ratings created (server dry run)"], err: [] });
  assert.equal(discovery.store.sourceOf("VirtualService", "default", "reviews"), "config:0:" + join(root, "config"));

  const applied = await cli("apply", "-f", join(root, "applied.yaml"), "--state-dir", stateDir);
  assert.deepEqual(applied, { code: 0, out: ["virtualservice.networking.istio.io/reviews created", "virtualservice.networking.istio.io/ratings created"], err: [] });
  assert.equal(discovery.store.get("VirtualService", "default", "reviews")!.spec.http![0].route![0].destination.subset, "v1");
  assert.ok(logs.includes("discovery: virtualservice default/reviews created (tsmesh apply)"), logs.join("\n"));
  assert.equal(logs.filter((l) => /virtualservice default\/reviews: the applied copy shadows .*reviews\.yaml:1 /.test(l)).length, 1, logs.join("\n"));

  const again = await cli("apply", "-f", join(root, "applied.yaml"), "--state-dir", stateDir);
  assert.deepEqual(again.out, ["virtualservice.networking.istio.io/reviews unchanged", "virtualservice.networking.istio.io/ratings unchanged"]);
  assert.equal(logs.filter((l) => /the applied copy shadows/.test(l)).length, 1, "the shadowing is reported once");

  const table = await cli("get", "vs", "--state-dir", stateDir);
  assert.equal(table.code, 0);
  // VirtualService's CRD columns: GATEWAYS (none here: an empty cell), HOSTS as kubectl's JSON.
  assert.equal(table.out[0], "NAME      GATEWAYS   HOSTS         AGE");
  assert.deepEqual(table.out.slice(1).map((l) => l.split(/\s+/)[0]), ["ratings", "reviews"]);
  assert.match(table.out[1], /^ratings {14}\["ratings"\] {3}\d+s$/);

  const wide = await cli("get", "virtualservices.networking.istio.io", "-o", "wide", "--state-dir", stateDir);
  assert.match(wide.out[0], /^NAME\s+GATEWAYS\s+HOSTS\s+AGE\s+SOURCE\s+SHADOWS$/);
  assert.match(wide.out.find((l) => l.startsWith("reviews"))!, /^reviews\s+\["reviews"\]\s+\d+s\s+applied\s+\S*config\/reviews\.yaml:1$/);
  assert.match(wide.out.find((l) => l.startsWith("ratings"))!, /applied\s+<none>$/);
  const dr = await cli("get", "dr", "-o", "wide", "--state-dir", stateDir);
  assert.match(dr.out[1], /^reviews\s+reviews\s+\d+s\s+\S*config\/reviews\.yaml:11\s+<none>$/);

  // Several kinds, a category, KIND/NAME: kubectl's tables, each name as kind.group/name.
  const both = await cli("get", "dr,vs", "--state-dir", stateDir);
  assert.equal(both.code, 0);
  assert.deepEqual(
    both.out.map((l) => l.replace(/\d+s$/, "AGE")),
    [
      "NAME                                          HOST      AGE",
      "destinationrule.networking.istio.io/reviews   reviews   AGE",
      "",
      "NAME                                         GATEWAYS   HOSTS         AGE",
      'virtualservice.networking.istio.io/ratings              ["ratings"]   AGE',
      'virtualservice.networking.istio.io/reviews              ["reviews"]   AGE',
    ],
  );
  assert.deepEqual((await cli("get", "networking-istio-io", "--state-dir", stateDir)).out, both.out);
  assert.deepEqual((await cli("get", "vs/reviews", "dr/reviews", "-o", "name", "--state-dir", stateDir)).out, ["virtualservice.networking.istio.io/reviews", "destinationrule.networking.istio.io/reviews"]);
  const one = JSON.parse((await cli("get", "vs/ratings", "-o", "json", "--state-dir", stateDir)).out.join("\n")) as { kind: string };
  assert.equal(one.kind, "VirtualService");
  const mixed = JSON.parse((await cli("get", "vs,dr", "-o", "json", "--state-dir", stateDir)).out.join("\n")) as { kind: string; items: Array<{ kind: string }> };
  assert.deepEqual([mixed.kind, mixed.items.map((i) => i.kind)], ["List", ["VirtualService", "VirtualService", "DestinationRule"]]);
  assert.deepEqual(await cli("get", "all", "--state-dir", stateDir), {
    code: 0,
    out: [],
    err: ["No resources found in default namespace.", `(Istio's and the Gateway API's kinds are not in kubectl's category "all", on Kubernetes either; list them with: tsmesh get istio-io,gateway-api)`],
  });
  assert.deepEqual(await cli("get", "gatewayclasses", "-A", "--state-dir", stateDir), { code: 0, out: [], err: ["No resources found"] });
  assert.deepEqual(await cli("get", "vs,dr", "reviews", "--state-dir", stateDir), { code: 1, out: [], err: ["error: you must specify only one resource"] });

  const y = await cli("get", "vs", "ratings", "-o", "yaml", "--state-dir", stateDir);
  const obj = parse(y.out.join("\n")) as { kind: string; metadata: Record<string, unknown>; status: { validationMessages?: Array<{ type: { code: string }; level: string }> } };
  assert.equal(obj.kind, "VirtualService");
  assert.equal(obj.metadata.generation, 1);
  assert.match(String(obj.metadata.uid), /^[0-9a-f-]{36}$/);
  assert.equal(typeof obj.metadata.resourceVersion, "string");
  // ratings routes to subset v9, which no DestinationRule defines: analyze's IST0101 in status.
  assert.ok(obj.status.validationMessages?.some((m) => m.type.code === "IST0101" && m.level === "ERROR"), JSON.stringify(obj.status));

  const all = await cli("get", "vs", "-A", "-o", "json", "--state-dir", stateDir);
  const list = JSON.parse(all.out.join("\n")) as { kind: string; items: unknown[] };
  assert.equal(list.kind, "List");
  assert.equal(list.items.length, 2);
  assert.deepEqual(await cli("get", "vs", "-o", "name", "--state-dir", stateDir).then((r) => r.out), ["virtualservice.networking.istio.io/ratings", "virtualservice.networking.istio.io/reviews"]);

  const missing = await cli("get", "vs", "nope", "--state-dir", stateDir);
  assert.deepEqual(missing, { code: 1, out: [], err: ['Error from server (NotFound): virtualservices.networking.istio.io "nope" not found'] });
  const none = await cli("get", "gw", "-n", "foo", "--state-dir", stateDir);
  assert.deepEqual(none, { code: 0, out: [], err: ["No resources found in foo namespace."] });

  // Only the file defines the DestinationRule: deleting it is the file's business.
  const fileOnly = await cli("delete", "dr", "reviews", "--state-dir", stateDir);
  assert.equal(fileOnly.code, 1);
  assert.match(fileOnly.err[0], /^Error from server \(BadRequest\): destinationrules\.networking\.istio\.io "reviews" is defined in \S*config\/reviews\.yaml:11, not applied: remove it there$/);

  const del = await cli("delete", "-f", join(root, "applied.yaml"), "--state-dir", stateDir);
  assert.deepEqual(del.out, ['virtualservice.networking.istio.io "reviews" deleted', 'virtualservice.networking.istio.io "ratings" deleted']);
  assert.equal(del.code, 0);
  // The file's copy is in force again.
  assert.equal(discovery.store.get("VirtualService", "default", "reviews")!.spec.http![0].route![0].destination.subset, "v3");
  const delAgain = await cli("delete", "vs", "ratings", "--state-dir", stateDir);
  assert.deepEqual(delAgain.err, ['Error from server (NotFound): virtualservices.networking.istio.io "ratings" not found']);
});

test("Gateway API tables from the CRDs' columns over the status the mesh reports: CLASS, ADDRESS, PROGRAMMED; HOSTNAMES", async () => {
  const file = join(packageRoot(), "samples/bookinfo/gateway-api/bookinfo-gateway.yaml");
  const applied = await cli("apply", "-f", file, "--state-dir", stateDir);
  assert.equal(applied.code, 0, applied.err.join("\n"));
  try {
    const gw = JSON.parse((await cli("get", "gtw/bookinfo-gateway", "-o", "json", "--state-dir", stateDir)).out.join("\n")) as { status: { addresses: Array<{ value: string }>; conditions: Array<{ type: string; status: string }> } };
    const address = gw.status.addresses[0].value;
    const programmed = gw.status.conditions.find((c) => c.type === "Programmed")!.status;
    assert.equal(programmed, "True");
    const r = await cli("get", "gtw,httproute", "--state-dir", stateDir);
    const pad = (s: string, n: number) => s.padEnd(n + 3);
    assert.deepEqual(
      r.out.map((l) => l.replace(/\d+s$/, "AGE")),
      [
        `${pad("NAME", 50)}CLASS   ${pad("ADDRESS", Math.max(7, address.length))}PROGRAMMED   AGE`,
        `${pad("gateway.gateway.networking.k8s.io/bookinfo-gateway", 50)}istio   ${pad(address, Math.max(7, address.length))}True         AGE`,
        "",
        // The route names no hostnames: an empty cell.
        "NAME                                           HOSTNAMES   AGE",
        "httproute.gateway.networking.k8s.io/bookinfo               AGE",
      ],
    );
    // Cluster-scoped GatewayClass: none stored here, and the message names no namespace.
    assert.deepEqual((await cli("get", "gateway-api", "--state-dir", stateDir)).out.filter((l) => l.startsWith("NAME")).length, 2);
  } finally {
    await cli("delete", "-f", file, "--state-dir", stateDir);
  }
});

test("get -o jsonpath as Istio's tasks use it, over the Gateway the mesh reports and over kubectl's List", async () => {
  const file = join(packageRoot(), "samples/bookinfo/gateway-api/bookinfo-gateway.yaml");
  assert.equal((await cli("apply", "-f", file, "--state-dir", stateDir)).code, 0);
  try {
    const gw = JSON.parse((await cli("get", "gtw/bookinfo-gateway", "-o", "json", "--state-dir", stateDir)).out.join("\n")) as { status: { addresses: Array<{ value: string }> } };
    // Istio's ingress tasks: export INGRESS_HOST=$(kubectl get gtw bookinfo-gateway -o jsonpath='{.status.addresses[0].value}')
    assert.deepEqual(await cli("get", "gtw", "bookinfo-gateway", "-o", "jsonpath={.status.addresses[0].value}", "--state-dir", stateDir), { code: 0, out: [gw.status.addresses[0].value], err: [] });
    assert.deepEqual((await cli("get", "gateways.gateway.networking.k8s.io", "bookinfo-gateway", "-ojsonpath={.status.addresses[*].value}", "--state-dir", stateDir)).out, [gw.status.addresses.map((a) => a.value).join(" ")]);
    // export INGRESS_PORT=$(kubectl get gtw … -o jsonpath='{.spec.listeners[?(@.name=="http")].port}')
    assert.deepEqual((await cli("get", "gtw", "bookinfo-gateway", "-o", 'jsonpath={.spec.listeners[?(@.name=="http")].port}', "--state-dir", stateDir)).out, ["80"]);
    // Several objects: a List the template walks.
    assert.deepEqual((await cli("get", "gtw,httproute", "-o", "jsonpath={.items[*].metadata.name}", "--state-dir", stateDir)).out, ["bookinfo-gateway bookinfo"]);
    assert.deepEqual((await cli("get", "gtw,httproute", "-o", 'jsonpath={range .items[*]}{.kind}/{.metadata.name}{"\\n"}{end}', "--state-dir", stateDir)).out, ["Gateway/bookinfo-gateway\nHTTPRoute/bookinfo"]);
    assert.deepEqual((await cli("get", "gtw", "-o", "custom-columns=NAME:.metadata.name,CLASS:.spec.gatewayClassName,PORTS:.spec.listeners[*].port", "--state-dir", stateDir)).out, ["NAME               CLASS   PORTS", "bookinfo-gateway   istio   80"]);
    // A missing key prints nothing by default, and is kubectl's error without --allow-missing-template-keys.
    assert.deepEqual(await cli("get", "gtw", "bookinfo-gateway", "-o", "jsonpath={.spec.nothing}", "--state-dir", stateDir), { code: 0, out: [], err: [] });
    const strict = await cli("get", "gtw", "bookinfo-gateway", "-o", "jsonpath={.spec.nothing}", "--allow-missing-template-keys=false", "--state-dir", stateDir);
    assert.equal(strict.code, 1);
    assert.match(strict.err[0], /^error: error executing jsonpath "\{\.spec\.nothing\}": Error executing template: nothing is not found\. Printing more information/);
    assert.deepEqual(await cli("get", "gtw", "nope", "-o", "jsonpath={.status}", "--state-dir", stateDir), { code: 1, out: [], err: ['Error from server (NotFound): gateways.gateway.networking.k8s.io "nope" not found'] });
    assert.deepEqual(await cli("get", "gtw", "-o", "jsonpath={.a", "--state-dir", stateDir), { code: 1, out: [], err: ["error: error parsing jsonpath {.a, unclosed action"] });
  } finally {
    await cli("delete", "-f", file, "--state-dir", stateDir);
  }
});

test("get -l selects on the mesh API's side, as the API server does, across kinds; --show-labels; a bad selector is the server's BadRequest", async () => {
  const labelled = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: productpage, labels: {app: productpage, tier: front}}
spec: {hosts: [productpage], http: [{route: [{destination: {host: productpage}}]}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: details, labels: {app: details}}
spec: {hosts: [details], http: [{route: [{destination: {host: details}}]}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: mirror}
spec: {hosts: [mirror], http: [{route: [{destination: {host: mirror}}]}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: productpage, labels: {app: productpage}}
spec: {host: productpage}
`;
  const file = join(root, "labelled.yaml");
  writeFileSync(file, labelled);
  const get = (...args: string[]) => cli("get", ...args, "-n", "labels", "--state-dir", stateDir);
  assert.equal((await cli("apply", "-f", file, "-n", "labels", "--state-dir", stateDir)).code, 0);
  try {
    const names = async (...args: string[]) => (await get(...args, "-o", "name")).out;
    assert.deepEqual(await names("vs", "-l", "app=productpage"), ["virtualservice.networking.istio.io/productpage"]);
    assert.deepEqual(await names("vs", "--selector", "app==details"), ["virtualservice.networking.istio.io/details"]);
    assert.deepEqual((await names("vs", "-l", "app!=details")).sort(), ["virtualservice.networking.istio.io/mirror", "virtualservice.networking.istio.io/productpage"]);
    assert.deepEqual((await names("vs", "-l", "app in (productpage,details)")).sort(), ["virtualservice.networking.istio.io/details", "virtualservice.networking.istio.io/productpage"]);
    assert.deepEqual(await names("vs", "-l", "app notin (productpage,details)"), ["virtualservice.networking.istio.io/mirror"]);
    assert.deepEqual((await names("vs", "-l", "app")).sort(), ["virtualservice.networking.istio.io/details", "virtualservice.networking.istio.io/productpage"]);
    assert.deepEqual(await names("vs", "-l", "!app"), ["virtualservice.networking.istio.io/mirror"]);
    assert.deepEqual(await names("vs,dr", "-lapp=productpage"), ["virtualservice.networking.istio.io/productpage", "destinationrule.networking.istio.io/productpage"]);
    // -l with -o yaml|json: a List, even of one.
    const list = parse((await get("vs", "-l", "tier=front", "-o", "yaml")).out.join("\n")) as { kind: string; items: Array<{ metadata: { name: string } }> };
    assert.deepEqual([list.kind, list.items.map((i) => i.metadata.name)], ["List", ["productpage"]]);
    const json = JSON.parse((await get("vs", "-l", "tier=nothing", "-o", "json")).out.join("\n")) as { kind: string; items: unknown[] };
    assert.deepEqual([json.kind, json.items], ["List", []]);
    assert.deepEqual(await get("vs", "-l", "tier=nothing"), { code: 0, out: [], err: ["No resources found in labels namespace."] });
    const shown = await get("vs", "-l", "app", "--show-labels");
    assert.deepEqual(
      shown.out.map((l) => l.replace(/\b\d+s\s+/, (age) => "AGE".padEnd(age.length))),
      [
        "NAME          GATEWAYS   HOSTS             AGE   LABELS",
        'details                  ["details"]       AGE   app=details',
        'productpage              ["productpage"]   AGE   app=productpage,tier=front',
      ],
    );
    assert.deepEqual(await get("vs", "-l", "a=b=c"), {
      code: 1,
      out: [],
      err: [`Error from server (BadRequest): Unable to find "networking.istio.io/v1, Resource=virtualservices" that match label selector "a=b=c", field selector "": found '=', expected: ',' or 'end of string'`],
    });
    assert.deepEqual((await get("vs", "productpage", "-l", "app")).err, ["error: name cannot be provided when a selector is specified"]);
    assert.deepEqual((await get("vs", "-o", "yaml", "--show-labels")).err, ["error: --show-labels option cannot be used with yaml printer"]);
    // The route takes the selector as the API server's list does.
    const client = new MeshApiClient(join(stateDir, "api.sock"));
    const bad = await client.get<unknown>("resources?kind=VirtualService&labelSelector=" + encodeURIComponent("x in (a"));
    assert.equal(bad.status, 400);
    assert.equal((bad.body as ApiStatus).message, "unable to parse requirement: found '', expected: ',' or ')'");
  } finally {
    await cli("delete", "-f", file, "-n", "labels", "--state-dir", stateDir);
  }
});

test("a bad document rejects the whole apply with validate's messages", async () => {
  const bad = join(root, "bad.yaml");
  writeFileSync(bad, APPLIED_VS.replace("  hosts: [ratings]", "  hosts: [ratings]\n  htp: []"));
  const r = await cli("apply", "-f", bad, "--state-dir", stateDir);
  assert.equal(r.code, 1);
  assert.match(r.err.join("\n"), /^error: error validating ".*bad\.yaml":\n.*bad\.yaml:17:3 \(document 1\) VirtualService default\/ratings: spec\.htp: Unknown field "htp"/);
  assert.equal(discovery.meshApi!.applied.list().length, 0);
});

test("-n places documents that name no namespace; one naming another is refused", async () => {
  const r = await cli("apply", "-f", join(root, "applied.yaml"), "-n", "prod", "--state-dir", stateDir);
  assert.deepEqual(r.out, ["virtualservice.networking.istio.io/reviews created", "virtualservice.networking.istio.io/ratings created"]);
  assert.deepEqual((await cli("get", "vs", "-n", "prod", "-o", "name", "--state-dir", stateDir)).out, ["virtualservice.networking.istio.io/ratings", "virtualservice.networking.istio.io/reviews"]);
  const other = join(root, "other.yaml");
  writeFileSync(other, vs("reviews", "v1").replace("  name: reviews\n", "  name: reviews\n  namespace: test\n"));
  const refused = await cli("apply", "-f", other, "-n", "prod", "--state-dir", stateDir);
  assert.equal(refused.code, 1);
  assert.match(refused.err.join("\n"), /the namespace from the provided object "test" does not match the namespace "prod"\. You must pass '--namespace=test'/);
  const del = await cli("delete", "-f", join(root, "applied.yaml"), "-n", "prod", "--state-dir", stateDir);
  assert.equal(del.code, 0);
  assert.equal(discovery.meshApi!.applied.list().length, 0);
});

test("-f DIR applies the folder's files; -R its subfolders' too, as kubectl", async () => {
  const dir = join(root, "tree");
  mkdirSync(join(dir, "sub"), { recursive: true });
  writeFileSync(join(dir, "a.yaml"), vs("alpha", "v1"));
  writeFileSync(join(dir, "notes.txt"), "not config");
  writeFileSync(join(dir, "sub", "b.yaml"), vs("beta", "v1"));
  const flat = await cli("apply", "-f", dir, "--dry-run=server", "--state-dir", stateDir);
  assert.deepEqual(flat.out, ["virtualservice.networking.istio.io/alpha created (server dry run)"]);
  const deep = await cli("apply", "-R", "-f", dir, "--dry-run=server", "--state-dir", stateDir);
  assert.deepEqual(deep.out, ["virtualservice.networking.istio.io/alpha created (server dry run)", "virtualservice.networking.istio.io/beta created (server dry run)"]);
  assert.equal(discovery.meshApi!.applied.list().length, 0);
});

test("a socket path over the Unix limit is refused with a clear message", async () => {
  // The path is checked before anything else is used.
  const server = new MeshApiServer({ socketPath: join(root, "x".repeat(120), "api.sock") } as ConstructorParameters<typeof MeshApiServer>[0]);
  await assert.rejects(server.listen(), /over 107 bytes, the limit of a Unix socket path/);
});

test("kubectl's errors for names, paths and a mesh that is not there", async () => {
  assert.deepEqual(await cli("get", "virtualservise", "--state-dir", stateDir), { code: 1, out: [], err: ['error: the server doesn\'t have a resource type "virtualservise" (did you mean "virtualservice"?)'] });
  assert.deepEqual((await cli("apply", "-f", join(root, "nope.yaml"), "--state-dir", stateDir)).err, [`error: the path ${JSON.stringify(join(root, "nope.yaml"))} does not exist`]);
  const noMesh = await cli("get", "vs", "--state-dir", join(root, "elsewhere"));
  assert.equal(noMesh.code, 1);
  assert.match(noMesh.err[0], /^error: no running mesh (at|in) .*elsewhere/);
});

test("bodies over the limit, bad JSON and unknown routes get Status errors", async () => {
  const client = new MeshApiClient(join(stateDir, "api.sock"));
  const unknown = await client.get<unknown>("nothing");
  assert.equal(unknown.status, 404);
  assert.equal((unknown.body as ApiStatus).reason, "NotFound");
  const notJson = await rawPost("apply", "{");
  assert.equal(notJson.status, 400);
  const big = await rawPost("apply", JSON.stringify({ yaml: "x".repeat(3 * 1024 * 1024 + 10) }));
  assert.equal(big.status, 413);
  const one = await client.get<unknown>("resources/DestinationRule/default/reviews");
  assert.equal(one.status, 200);
  const malformed = await client.get<unknown>("resources/DestinationRule/default/%E0%A4%A");
  assert.equal(malformed.status, 400);
});

function rawPost(route: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: join(stateDir, "api.sock"), path: `/apis/tsmesh.io/v1/${route}`, method: "POST", headers: { "content-type": "application/json" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

test("a second control plane on the same state folder is refused; the socket goes away on stop", async () => {
  const second = new Discovery({ configPaths: [join(root, "config")], stateDir, secureXdsAddress: "", xdsAddress: "127.0.0.1:0", monitoringAddress: "", watch: false, log: () => {} });
  await assert.rejects(second.start(), /another mesh serves .*api\.sock/);
  await second.close();
  assert.ok(existsSync(join(stateDir, "api.sock")));
  await discovery.close();
  assert.ok(!existsSync(join(stateDir, "api.sock")));
});
