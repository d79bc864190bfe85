// The control plane's console says what a resource uses that tsmesh does not enforce yet: one line
// per resource (file, line, resource, fields) when it loads, again only when that changes; never on
// an unrelated edit, a rescan or a rejected edit. The mesh config in effect is reported the same way,
// and a file rejected at start is logged once.
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { Discovery } from "../../src/controlplane/discovery.js";
import { eventually } from "../e2e/helpers.js";

const AP = "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {name: plugin}\nspec: {url: \"oci://example.com/plugin:1\"}\n";
const dr = (extra = "") => `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews}\nspec:\n  host: reviews\n  trafficPolicy:\n    proxyProtocol: {version: V1}\n${extra}`;
const VS = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ratings}\nspec:\n  hosts: [ratings]\n  http:\n  - route:\n    - destination: {host: ratings}\n";
const SE = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ext}\nspec:\n  hosts: [ext.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DNS\n";
const istioConfigMap = (mesh: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata:\n  mesh: |\n${mesh.replace(/^/gm, "    ")}\n`;

describe("the control plane reports what is not enforced", () => {
  let dir: string;
  let discovery: Discovery | undefined;
  const logs: string[] = [];
  const lines = () => logs.filter((l) => l.includes("[TSMESH_NOT_ENFORCED]"));
  const write = (file: string, text: string) => {
    const tmp = join(dir, `.${file}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(dir, file));
  };
  /** Writes a file and waits until the store has taken it (a sync point for "nothing was logged"). */
  const applied = async (d: Discovery, file: string, text: string) => {
    const version = d.store.currentVersion;
    write(file, text);
    await eventually(`${file} applied`, () => d.store.currentVersion > version);
  };

  let root: string;
  before(() => (root = mkdtempSync(join(tmpdir(), "tsmesh-not-enforced-"))));
  // Each test its own config folder.
  beforeEach(() => (dir = mkdtempSync(join(root, "config-"))));
  afterEach(async () => {
    await discovery?.close();
    discovery = undefined;
    logs.length = 0;
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it("one line per resource when it loads, again only when what it uses changes", async () => {
    write("policies.yaml", [AP, dr(), VS].join("---\n"));
    discovery = new Discovery({ configPaths: [dir], xdsAddress: "127.0.0.1:0", monitoringAddress: "", debounceQuietMs: 10, log: (l) => logs.push(l) });
    await discovery.start();
    const d = discovery;
    assert.deepEqual(
      lines().map((l) => l.replace(/^discovery: (\S*\/)?/, "").replace(/: not enforced yet: .*/, "")),
      ["policies.yaml:1 WasmPlugin default/plugin", "policies.yaml:6 DestinationRule default/reviews"],
    );
    assert.match(lines()[0], /: not enforced yet: Wasm modules are not loaded \[TSMESH_NOT_ENFORCED\]$/);
    assert.match(lines()[1], /: not enforced yet: spec\.trafficPolicy\.proxyProtocol: no PROXY protocol.* \[TSMESH_NOT_ENFORCED\]$/);

    // An unrelated change to the same file (a new, fully enforced resource) repeats nothing.
    await applied(d, "policies.yaml", [AP, dr(), VS, SE].join("---\n"));
    assert.equal(lines().length, 2, lines().join("\n"));

    // The DestinationRule now uses one more thing: its line again, with both fields.
    write("policies.yaml", [AP, dr("    retryBudget: {percent: 10, budgetInterval: 1s}\n"), VS, SE].join("---\n"));
    await eventually("the DestinationRule's new line", () => lines().length === 3);
    assert.match(lines()[2], /^discovery: .*\/policies\.yaml:6 DestinationRule default\/reviews: not enforced yet: (?=.*spec\.trafficPolicy\.proxyProtocol: )(?=.*spec\.trafficPolicy\.retryBudget\.budgetInterval: )/);

    // A rejected edit keeps the last good version in force: nothing new to say about it.
    write("policies.yaml", [AP, dr("    retryBudget: {percent: 10, budgetInterval: 1s}\n"), VS.replace("{host: ratings}\n", "{host: ratings}\n      weight: -1\n")].join("---\n"));
    await eventually("the rejected edit", () => logs.some((l) => l.includes("last good version kept")));
    assert.equal(lines().length, 3, lines().join("\n"));

    // Removed, then back: it loads again, so it is reported again.
    rmSync(join(dir, "policies.yaml"));
    await eventually("the file removed", () => d.store.size === 0);
    write("again.yaml", AP);
    await eventually("the WasmPlugin's line again", () => lines().length === 4);
    assert.match(lines()[3], /^discovery: .*\/again\.yaml:1 WasmPlugin default\/plugin: not enforced yet: /);
  });

  it("the mesh config in effect: the ConfigMap's fields when it loads and when that changes", async () => {
    write("istio.yaml", istioConfigMap("defaultConfig:\n  concurrency: 2\nenableTracing: true"));
    {
      discovery = new Discovery({ configPaths: [dir], xdsAddress: "127.0.0.1:0", monitoringAddress: "", debounceQuietMs: 10, log: (l) => logs.push(l) });
      await discovery.start();
      const d = discovery;
      assert.deepEqual(lines().map((l) => l.replace(/^discovery: (\S*\/)?/, "")), [
        // enableTracing is read (issue 15), so only defaultConfig.concurrency is reported.
        "istio.yaml: ConfigMap istio-system/istio: data.mesh: not enforced yet: defaultConfig.concurrency: proxy settings are not applied [TSMESH_NOT_ENFORCED]",
      ]);
      // A field tsmesh reads changes: the same unenforced fields, nothing repeated.
      write("istio.yaml", istioConfigMap("defaultConfig:\n  concurrency: 2\nenableTracing: true\nconnectTimeout: 2s"));
      await eventually("the new connect timeout", () => d.pushContext.mesh.connectTimeoutMs === 2000);
      assert.equal(lines().length, 1, lines().join("\n"));
      write("istio.yaml", istioConfigMap("defaultConfig:\n  concurrency: 2\nconnectTimeout: 2s\ningressClass: istio"));
      await eventually("the changed line", () => lines().length === 2);
      assert.match(lines()[1], /data\.mesh: not enforced yet: defaultConfig\.concurrency: .*; ingressClass: /);
    }
  });

  it("a file rejected at start is logged once (not once per listener of the load)", async () => {
    write("bad.yaml", VS.replace("{host: ratings}\n", "{host: ratings}\n      weight: -1\n"));
    discovery = new Discovery({ configPaths: [dir], watch: false, xdsAddress: "127.0.0.1:0", monitoringAddress: "", log: (l) => logs.push(l) });
    await discovery.start();
    assert.equal(logs.filter((l) => /bad\.yaml:9:7 VirtualService default\/ratings: spec\.http\[0\]\.route\[0\]\.weight/.test(l)).length, 1, logs.join("\n"));
  });

  it("--mesh-config: the file's fields at start", async () => {
    const meshFile = join(root, "mesh.yaml");
    writeFileSync(meshFile, "outboundTrafficPolicy: {mode: REGISTRY_ONLY}\ningressClass: istio\n");
    discovery = new Discovery({ configPaths: [dir], meshConfigFile: meshFile, watch: false, xdsAddress: "127.0.0.1:0", monitoringAddress: "", log: (l) => logs.push(l) });
    await discovery.start();
    assert.equal(lines().length, 1, logs.join("\n"));
    assert.match(lines()[0], /^discovery: .*\/mesh\.yaml: not enforced yet: ingressClass: not read by tsmesh \[TSMESH_NOT_ENFORCED\]$/);
  });

  it("a Kubernetes Service is read; the Deployment and ServiceAccount beside it get one TSMESH_NOT_READ line each", async () => {
    const svc = "apiVersion: v1\nkind: Service\nmetadata: {name: details}\nspec:\n  ports: [{port: 9080, name: http}]\n  selector: {app: details}\n";
    const sa = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: bookinfo-details}\n";
    const deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: details-v1}\nspec: {}\n";
    write("bookinfo.yaml", [svc, sa, deploy].join("---\n"));
    discovery = new Discovery({ configPaths: [dir], xdsAddress: "127.0.0.1:0", monitoringAddress: "", debounceQuietMs: 10, log: (l) => logs.push(l) });
    await discovery.start();
    assert.ok(discovery.store.get("Service", "default", "details"), "the Service is in the store");
    const notRead = logs.filter((l) => l.includes("[TSMESH_NOT_READ]")).map((l) => l.replace(/^discovery: (\S*\/)?/, ""));
    assert.deepEqual(notRead.map((l) => l.replace(/: not read: .*/, "")), ["bookinfo.yaml:8 ServiceAccount default/bookinfo-details", "bookinfo.yaml:12 Deployment default/details-v1"]);
    assert.match(notRead[1], /not read: tsmesh runs workloads from WorkloadEntries/);
    assert.deepEqual(logs.filter((l) => /rejected|TSMESH_UNKNOWN_KIND/.test(l)), []);
  });
});
