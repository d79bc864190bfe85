// kubectl's shapes in `tsmesh get`: AGE as apimachinery's HumanDuration prints it, columns padded as
// kubectl's tabwriter pads them, each CRD's printer columns filled as the API server fills them, one
// table per kind, kubectl's argument forms (KIND,KIND, categories, KIND/NAME, -l's refusals), -o's
// formats and refusals, custom columns, the object a template sees, and label columns.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { resolveResourceName, UnknownResourceError } from "../../src/api/kind-names.js";
import { compareKubeVersions, kinds } from "../../src/api/kinds.js";
import { GetArgsError, getRequests, tables, type Fetched } from "../../src/cli/get.js";
import { OutputFormatError, parseOutputFormat, printCustomColumns, printedObject, printJsonPath, relaxedJsonPath } from "../../src/cli/get-output.js";
import { formatTable, humanDuration } from "../../src/cli/output.js";
import { cellValue, printable, PrinterColumnError, printerColumns } from "../../src/cli/printer-columns.js";
import type { ResourceView } from "../../src/controlplane/api-server.js";

// kubectl's tables: three spaces after the widest cell.
const kubectlTable = (rows: string[][]) => formatTable(rows[0], rows.slice(1), { gap: 3 }).split("\n");

test("AGE reads as kubectl's", () => {
  const s = 1000;
  const m = 60 * s;
  const h = 60 * m;
  const d = 24 * h;
  const cases: Array<[number, string]> = [
    [-5 * s, "<invalid>"],
    [-1 * s, "0s"],
    [0, "0s"],
    [45 * s, "45s"],
    [119 * s, "119s"],
    [2 * m, "2m"],
    [2 * m + 30 * s, "2m30s"],
    [9 * m + 59 * s, "9m59s"],
    [10 * m + 30 * s, "10m"],
    [179 * m, "179m"],
    [3 * h, "3h"],
    [4 * h + 5 * m, "4h5m"],
    [8 * h, "8h"],
    [47 * h, "47h"],
    [2 * d, "2d"],
    [3 * d + 4 * h, "3d4h"],
    [8 * d, "8d"],
    [400 * d, "400d"],
    [2 * 365 * d + 30 * d, "2y30d"],
    [3 * 365 * d, "3y"],
    [9 * 365 * d + 100 * d, "9y"],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `${ms} ms`);
});

test("columns are padded three spaces past the widest cell, the last one not at all", () => {
  assert.deepEqual(kubectlTable([["NAME", "AGE"], ["reviews", "5m"], ["ratings-long-name", "12d"]]), ["NAME                AGE", "reviews             5m", "ratings-long-name   12d"]);
  assert.deepEqual(kubectlTable([["NAMESPACE", "NAME", "AGE"], ["default", "a", "1s"]]), ["NAMESPACE   NAME   AGE", "default     a      1s"]);
});

// ---- The CRDs' printer columns and kubectl's multi-kind printing ----

const NOW = new Date("2026-12-06T12:00:00Z");
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();
const MIN = 60_000;

/** A view as the mesh's API returns it. */
function view(kind: string, name: string, extra: Record<string, unknown> = {}, source = "applied", namespace = "default"): ResourceView {
  const info = resolveResourceName(kind);
  return {
    object: { apiVersion: `${info.group}/${info.versions[0]}`, kind: info.yamlKind, metadata: { name, namespace, creationTimestamp: ago(5 * MIN) }, spec: {}, ...extra } as unknown as ResourceView["object"],
    source,
    shadowed: [],
  };
}
const fetched = (kind: string, ...views: ResourceView[]): Fetched => ({ info: resolveResourceName(kind), views });

test("VirtualService, DestinationRule, ServiceEntry, WorkloadEntry tables have their CRDs' columns, in the CRDs' order", () => {
  const vs = fetched(
    "vs",
    view("vs", "bookinfo", { spec: { gateways: ["bookinfo-gateway"], hosts: ["*"] } }),
    view("vs", "reviews", { spec: { hosts: ["reviews"] }, metadata: { name: "reviews", namespace: "default", creationTimestamp: ago(12 * 24 * 60 * MIN) } }),
  );
  assert.deepEqual(tables([vs], { allNamespaces: false, output: "table" }, NOW), [
    "NAME       GATEWAYS               HOSTS         AGE",
    'bookinfo   ["bookinfo-gateway"]   ["*"]         5m',
    'reviews                           ["reviews"]   12d',
  ]);
  assert.deepEqual(tables([fetched("dr", view("dr", "reviews", { spec: { host: "reviews" } }))], { allNamespaces: true, output: "table" }, NOW), [
    "NAMESPACE   NAME      HOST      AGE",
    "default     reviews   reviews   5m",
  ]);
  assert.deepEqual(tables([fetched("se", view("se", "httpbin-ext", { spec: { hosts: ["httpbin.org"], location: "MESH_EXTERNAL", resolution: "DNS" } }))], { allNamespaces: false, output: "table" }, NOW), [
    "NAME          HOSTS             LOCATION        RESOLUTION   AGE",
    'httpbin-ext   ["httpbin.org"]   MESH_EXTERNAL   DNS          5m',
  ]);
  // WorkloadEntry's CRD lists Age before Address.
  assert.deepEqual(tables([fetched("we", view("we", "reviews-v1", { spec: { address: "127.0.0.5" } }))], { allNamespaces: false, output: "table" }, NOW), ["NAME         AGE   ADDRESS", "reviews-v1   5m    127.0.0.5"]);
  // A CRD without columns (Istio's Gateway): the API server's default, AGE.
  assert.deepEqual(tables([fetched("gw", view("gw", "bookinfo-gateway"))], { allNamespaces: false, output: "table" }, NOW), ["NAME               AGE", "bookinfo-gateway   5m"]);
});

test("Gateway API tables: the first address, conditions by filter, empty cells before status, GatewayClass's DESCRIPTION only with -o wide", () => {
  const status = {
    addresses: [
      { type: "IPAddress", value: "127.0.0.10" },
      { type: "IPAddress", value: "127.0.0.11" },
    ],
    conditions: [
      { type: "Accepted", status: "True" },
      { type: "Programmed", status: "True" },
    ],
  };
  const gtw = fetched("gtw", view("gtw", "bookinfo-gateway", { spec: { gatewayClassName: "istio" }, status }), view("gtw", "pending", { spec: { gatewayClassName: "istio" } }));
  assert.deepEqual(tables([gtw], { allNamespaces: false, output: "table" }, NOW), [
    "NAME               CLASS   ADDRESS      PROGRAMMED   AGE",
    "bookinfo-gateway   istio   127.0.0.10   True         5m",
    "pending            istio                             5m",
  ]);
  const route = fetched("httproute", view("httproute", "bookinfo", { spec: { hostnames: ["bookinfo.example.com", "a.example.com"] } }), view("httproute", "reviews"));
  assert.deepEqual(tables([route], { allNamespaces: false, output: "table" }, NOW), [
    "NAME       HOSTNAMES                                  AGE",
    'bookinfo   ["bookinfo.example.com","a.example.com"]   5m',
    "reviews                                               5m",
  ]);
  const gc = fetched("gatewayclass", view("gatewayclass", "istio", { spec: { controllerName: "istio.io/gateway-controller", description: "The default Istio GatewayClass" }, status: { conditions: [{ type: "Accepted", status: "True" }] } }));
  // Cluster-scoped: no NAMESPACE column even with -A.
  assert.deepEqual(tables([gc], { allNamespaces: true, output: "table" }, NOW), ["NAME    CONTROLLER                    ACCEPTED   AGE", "istio   istio.io/gateway-controller   True       5m"]);
  assert.deepEqual(tables([gc], { allNamespaces: false, output: "wide" }, NOW), [
    "NAME    CONTROLLER                    ACCEPTED   AGE   DESCRIPTION                      SOURCE    SHADOWS",
    "istio   istio.io/gateway-controller   True       5m    The default Istio GatewayClass   applied   <none>",
  ]);
});

test("several kinds: a table each, names as kind.group/name, a blank line between, kinds with nothing skipped", () => {
  const vs = fetched("vs", view("vs", "reviews", { spec: { hosts: ["reviews"] } }));
  const dr = fetched("dr", view("dr", "reviews", { spec: { host: "reviews" } }));
  assert.deepEqual(tables([vs, fetched("gw"), dr], { allNamespaces: false, output: "table" }, NOW), [
    "NAME                                         GATEWAYS   HOSTS         AGE",
    'virtualservice.networking.istio.io/reviews              ["reviews"]   5m',
    "",
    "NAME                                          HOST      AGE",
    "destinationrule.networking.istio.io/reviews   reviews   5m",
  ]);
  // One kind, several responses (names): one table, no prefix.
  assert.deepEqual(tables([dr, fetched("dr", view("dr", "ratings", { spec: { host: "ratings" } }))], { allNamespaces: false, output: "table" }, NOW), ["NAME      HOST      AGE", "reviews   reviews   5m", "ratings   ratings   5m"]);
  assert.deepEqual(tables([fetched("vs"), fetched("dr")], { allNamespaces: false, output: "table" }, NOW), []);
});

test("cells as the CRD table convertor makes them and kubectl prints them", () => {
  const cases: Array<[string, unknown, string | undefined]> = [
    ["string", "reviews", "reviews"],
    ["string", ["a", "b"], '["a","b"]'],
    ["string", [], "[]"],
    ["string", { z: 1, a: [true, null] }, '{"a":[true,null],"z":1}'],
    ["string", ["<b>&"], '["\\u003cb\\u003e\\u0026"]'],
    ["string", 80, "80"],
    ["string", 1.5, "1.5"],
    ["string", 0.00001, "1e-05"],
    ["string", 1e21, "1e+21"],
    ["string", true, "true"],
    ["string", null, undefined],
    ["integer", 7.9, "7"],
    ["integer", "7", undefined],
    ["number", 3, "3"],
    ["boolean", false, "false"],
    ["boolean", "false", undefined],
    ["date", ago(90_000), "90s"],
    ["date", "2026-12-06 11:00:00", "<invalid>"],
    ["date", "0001-01-01T00:00:00Z", "<unknown>"],
    ["date", 5, undefined],
  ];
  for (const [type, value, want] of cases) assert.equal(cellValue(type, value, NOW), want, `${type} ${JSON.stringify(value)}`);
  assert.equal(printable("two\nlines"), "two...");
  assert.equal(printable("a\rb"), "a...");
  assert.equal(printable("\u001b[31mred"), "^[[31mred");
  assert.equal(printable(undefined), "");
});

test("a CRD column whose JSONPath does not parse is an error naming the CRD and the column", () => {
  const info = { ...resolveResourceName("gtw"), printerColumns: [{ name: "Programmed", type: "string", jsonPath: '.status.conditions[?(@.type=="Programmed").status' }] };
  assert.throws(() => printerColumns(info), (e: unknown) => e instanceof PrinterColumnError && /^the CRD gateways\.gateway\.networking\.k8s\.io: column "Programmed" \(jsonPath \.status\.conditions\[\?\(@\.type=="Programmed"\)\.status\): /.test(e.message));
  // Every shipped CRD's columns parse.
  for (const k of kinds().values()) assert.ok(printerColumns(k).length > 0, k.kind);
});

test("kubectl's argument forms: KIND,KIND, categories, KIND/NAME, and kubectl's refusals", () => {
  const kindsOf = (args: string[], all = false) => getRequests(args, all).requests.map((r) => (r.name ? `${r.info.kind}/${r.name}` : r.info.kind));
  assert.deepEqual(kindsOf(["vs,dr"]), ["VirtualService", "DestinationRule"]);
  assert.deepEqual(kindsOf(["vs,virtualservices,dr"]), ["VirtualService", "DestinationRule"]);
  assert.deepEqual(kindsOf(["vs/reviews", "dr/reviews"]), ["VirtualService/reviews", "DestinationRule/reviews"]);
  assert.deepEqual(kindsOf(["dr", "reviews", "ratings"]), ["DestinationRule/reviews", "DestinationRule/ratings"]);
  assert.equal(getRequests(["vs/reviews"], false).singleItem, true);
  assert.equal(getRequests(["vs", "reviews"], false).singleItem, true);
  assert.equal(getRequests(["vs", "reviews", "ratings"], false).singleItem, false);
  // Categories from the CRDs, in discovery order (groups by name, versions newest first, kinds by plural).
  assert.deepEqual(kindsOf(["gateway-api"]), ["GatewayClass", "KubernetesGateway", "GRPCRoute", "HTTPRoute", "ReferenceGrant", "TCPRoute", "TLSRoute"]);
  assert.deepEqual(kindsOf(["networking-istio-io"]), ["DestinationRule", "Gateway", "ServiceEntry", "Sidecar", "VirtualService", "WorkloadEntry", "WorkloadGroup", "ProxyConfig", "EnvoyFilter"]);
  assert.deepEqual(kindsOf(["istio-io"]), [
    ...["TrafficExtension", "WasmPlugin"],
    ...["DestinationRule", "Gateway", "ServiceEntry", "Sidecar", "VirtualService", "WorkloadEntry", "WorkloadGroup", "ProxyConfig", "EnvoyFilter"],
    ...["AuthorizationPolicy", "PeerAuthentication", "RequestAuthentication", "Telemetry"],
  ]);
  // `all` is Kubernetes' workload kinds, which Istio's CRDs are not in: here, the Services.
  assert.deepEqual(kindsOf(["all"]), ["Service"]);
  assert.equal(getRequests(["all"], false).askedAll, true);
  assert.deepEqual(kindsOf(["all,vs"]), ["Service", "VirtualService"]);
  assert.deepEqual(kindsOf(["svc/reviews-v1", "services.v1/x"]), ["Service/reviews-v1", "Service/x"]);
  const refused: Array<[string[], boolean, RegExp]> = [
    [["vs", "vs/reviews"], false, /^there is no need to specify a resource type as a separate argument/],
    [["vs/reviews/x"], false, /may not have more than one slash/],
    [["vs/"], false, /must have a single resource and name/],
    [["vs,dr/reviews"], false, /must have a single resource and name/],
    [["vs,dr", "reviews"], false, /^you must specify only one resource$/],
    [["istio-io", "reviews"], false, /^you must specify only one resource$/],
    [["vs", "reviews"], true, /^a resource cannot be retrieved by name across all namespaces$/],
    [["vs/reviews"], true, /^a resource cannot be retrieved by name across all namespaces$/],
  ];
  for (const [args, all, want] of refused) assert.throws(() => getRequests(args, all), (e: unknown) => e instanceof GetArgsError && want.test(e.message), args.join(" "));
  assert.throws(() => getRequests(["vs,virtualservise"], false), UnknownResourceError);
});

test("Kubernetes' version order", () => {
  assert.deepEqual(["v1alpha3", "v1beta1", "v1", "v2alpha1", "v1beta2", "foo", "v10", "v2"].sort(compareKubeVersions), ["v10", "v2", "v1", "v1beta2", "v1beta1", "v2alpha1", "v1alpha3", "foo"]);
});

// ---- -o jsonpath / custom-columns, labels, selectors' argument rules ----

test("-l refuses names and KIND/NAME as kubectl's builder does", () => {
  assert.throws(() => getRequests(["vs", "reviews"], false, true), (e: unknown) => e instanceof GetArgsError && e.message === "name cannot be provided when a selector is specified");
  assert.throws(() => getRequests(["vs/reviews"], false, true), (e: unknown) => e instanceof GetArgsError && e.message === "selectors and the all flag cannot be used when passing resource/name arguments");
  assert.equal(getRequests(["vs,dr"], false, true).requests.length, 2);
});

test("-o formats: kubectl's names, and kubectl's refusals", () => {
  assert.deepEqual(["", "table", "wide", "yaml", "json", "name"].map((o) => parseOutputFormat(o).t), ["table", "table", "wide", "yaml", "json", "name"]);
  const jp = parseOutputFormat("jsonpath={.status.addresses[0].value}");
  assert.equal(jp.t === "jsonpath" && jp.raw, "{.status.addresses[0].value}");
  assert.equal(parseOutputFormat("jsonpath-as-json={.a}").t, "jsonpath");
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-get-"));
  try {
    writeFileSync(join(dir, "t.jsonpath"), '{range .items[*]}{.metadata.name}{"\\n"}{end}');
    writeFileSync(join(dir, "cols.txt"), "NAME          HOSTS\n.metadata.name  {.spec.hosts[*]}\n");
    writeFileSync(join(dir, "bad-cols.txt"), "NAME HOSTS\n.metadata.name\n");
    const file = parseOutputFormat(`jsonpath-file=${join(dir, "t.jsonpath")}`);
    assert.equal(file.t === "jsonpath" && file.raw, '{range .items[*]}{.metadata.name}{"\\n"}{end}');
    const cols = parseOutputFormat(`custom-columns-file=${join(dir, "cols.txt")}`, true);
    assert.deepEqual(cols.t === "custom-columns" && [cols.columns.map((c) => [c.header, c.path.source]), cols.noHeaders], [
      [
        ["NAME", "{.metadata.name}"],
        ["HOSTS", "{.spec.hosts[*]}"],
      ],
      false,
    ]);
    const refused: Array<[string, string]> = [
      ["yml", 'unable to match a printer suitable for the output format "yml", allowed formats are: custom-columns,custom-columns-file,json,jsonpath,jsonpath-as-json,jsonpath-file,name,wide,yaml'],
      ["go-template={{.kind}}", 'unable to match a printer suitable for the output format "go-template={{.kind}}", allowed formats are: custom-columns,custom-columns-file,json,jsonpath,jsonpath-as-json,jsonpath-file,name,wide,yaml'],
      ["jsonpath", "template format specified but no template given"],
      ["jsonpath=", "template format specified but no template given"],
      ["jsonpath={.a", "error parsing jsonpath {.a, unclosed action"],
      [`jsonpath-file=${join(dir, "none")}`, `error reading --template ${join(dir, "none")}, open ${join(dir, "none")}: no such file or directory`],
      ["custom-columns=", "custom-columns format specified but no custom columns given"],
      ["custom-columns=NAME", "unexpected custom-columns spec: NAME, expected <header>:<json-path-expr>"],
      ["custom-columns=NAME:{.a}{.b}", "unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' or '{.name1.name2}'"],
      ["custom-columns=NAME:.a[x]", "invalid array index x"],
      [`custom-columns-file=${join(dir, "bad-cols.txt")}`, "number of headers (2) and field specifications (1) don't match"],
    ];
    for (const [o, want] of refused) assert.throws(() => parseOutputFormat(o), (e: unknown) => e instanceof OutputFormatError && e.message === want, o);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("custom columns: relaxed paths, <none>, Go's %v joined by commas, kubectl's tabwriter", () => {
  assert.deepEqual(["metadata.name", ".metadata.name", "{metadata.name}", "{.metadata.name}"].map(relaxedJsonPath), Array(4).fill("{.metadata.name}"));
  const objects = [
    { metadata: { name: "reviews", labels: { app: "reviews" } }, spec: { hosts: ["reviews", "reviews.default.svc.cluster.local"], http: [{ route: [{ destination: { host: "reviews", subset: "v1" }, weight: 50 }] }] } },
    { metadata: { name: "r\u001b[31m\rx" }, spec: { hosts: [] } },
  ];
  const f = parseOutputFormat("custom-columns=NAME:.metadata.name,HOSTS:.spec.hosts[*],LIST:.spec.hosts,ROUTE:.spec.http[0].route[0],X:.spec.missing");
  assert.ok(f.t === "custom-columns");
  assert.deepEqual(printCustomColumns(f, objects).lines, [
    "NAME         HOSTS                                       LIST                                          ROUTE                                                    X",
    "reviews      reviews,reviews.default.svc.cluster.local   [reviews reviews.default.svc.cluster.local]   map[destination:map[host:reviews subset:v1] weight:50]   <none>",
    "r^[[31m\\rx   <none>                                      []                                            <none>                                                   <none>",
  ]);
  // Short headers still get kubectl's six-character cells; --no-headers drops the header from the widths too.
  const short = parseOutputFormat("custom-columns=A:.a,B:.b", true);
  assert.ok(short.t === "custom-columns");
  assert.deepEqual(printCustomColumns(short, [{ a: 1, b: 2.5 }]).lines, ["1     2.5"]);
  const withHead = parseOutputFormat("custom-columns=A:.a,B:.b");
  assert.ok(withHead.t === "custom-columns");
  assert.deepEqual(printCustomColumns(withHead, []).lines, ["A     B"]);
  // An evaluation error ends the table where kubectl's ends.
  const bad = parseOutputFormat("custom-columns=NAME:.metadata.name,FIRST:.spec.hosts[0]");
  assert.ok(bad.t === "custom-columns");
  assert.deepEqual(printCustomColumns(bad, objects), { lines: ["NAME      FIRST", "reviews   reviews"], error: "array index out of bounds: index 0, length 0" });
});

test("the object a template sees (one named object, else kubectl's List) and kubectl's failure text", () => {
  assert.deepEqual(printedObject([{ a: 1 }], true), { a: 1 });
  assert.deepEqual(printedObject([{ a: 1 }], false), { apiVersion: "v1", items: [{ a: 1 }], kind: "List", metadata: { resourceVersion: "" } });
  assert.deepEqual(printedObject([], false), { apiVersion: "v1", items: [], kind: "List", metadata: { resourceVersion: "" } });
  const jp = parseOutputFormat("jsonpath={.spec.x}");
  assert.ok(jp.t === "jsonpath");
  assert.deepEqual(printJsonPath(jp, { spec: {} }, true), { text: "" });
  assert.deepEqual(printJsonPath(jp, { spec: {} }, false), {
    error: 'error executing jsonpath "{.spec.x}": Error executing template: x is not found. Printing more information for debugging the template:\n\ttemplate was:\n\t\t{.spec.x}\n\tobject given to jsonpath engine was:\n\t\t{"spec":{}}\n',
  });
});

test("--show-labels and -L: label columns last, LABELS after them, <none> without labels; --no-headers", () => {
  const labelled = view("vs", "reviews", { metadata: { name: "reviews", namespace: "default", creationTimestamp: ago(5 * MIN), labels: { version: "v1", "app.kubernetes.io/name": "reviews" } }, spec: { hosts: ["reviews"] } });
  const bare = view("vs", "ratings", { spec: { hosts: ["ratings"] } });
  assert.deepEqual(tables([fetched("vs", labelled, bare)], { allNamespaces: false, output: "table", showLabels: true, labelColumns: ["app.kubernetes.io/name", "missing"] }, NOW), [
    "NAME      GATEWAYS   HOSTS         AGE   NAME      MISSING   LABELS",
    'reviews              ["reviews"]   5m    reviews             app.kubernetes.io/name=reviews,version=v1',
    'ratings              ["ratings"]   5m                        <none>',
  ]);
  assert.deepEqual(tables([fetched("vs", bare), fetched("dr", view("dr", "reviews", { spec: { host: "reviews" } }))], { allNamespaces: false, output: "table", noHeaders: true }, NOW), [
    'virtualservice.networking.istio.io/ratings         ["ratings"]   5m',
    "destinationrule.networking.istio.io/reviews   reviews   5m",
  ]);
});
