// istioctl's daily commands against a real `tsmesh up` bookinfo (octet 31): the registry record up
// keeps, proxy-status and proxy-config checked against each proxy's own admin /config_dump and
// /clusters, describe explaining the reviews subsets and routes of Istio's 80/20 task, version,
// dashboard, exec and analyze finding the mesh through the registry alone.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runAnalyze } from "../../src/cli/analyze.js";
import { dumpedClusters, dumpedListeners, dumpedRoutes } from "../../src/cli/config-dump.js";
import { runDashboard } from "../../src/cli/dashboard.js";
import { runDescribe } from "../../src/cli/describe.js";
import { findWorkload } from "../../src/cli/exec.js";
import { runProxyConfig, type ProxyConfigOptions } from "../../src/cli/proxy-config.js";
import { runProxyStatus } from "../../src/cli/proxy-status.js";
import { runVersion } from "../../src/cli/version.js";
import { packageRoot } from "../../src/core/paths.js";
import { tsmeshVersion } from "../../src/core/tsmesh-version.js";
import { MeshRegistration } from "../../src/local/mesh-registration.js";
import { findMesh, MESH_FILE } from "../../src/local/registry.js";
import { eventually } from "../helpers/eventually.js";
import { httpRequest, TestMesh } from "../helpers/mesh.js";

const OCTET = 31;
const NETWORKING = join(packageRoot(), "samples/bookinfo/networking");

/** Runs a command function, collecting its stdout and stderr lines. */
async function run(fn: (out: (s: string) => void, err: (s: string) => void) => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await fn(
    (s) => out.push(s),
    (s) => err.push(s),
  );
  return { code, out: out.join("\n"), err: err.join("\n") };
}

async function adminJson(address: string, path: string): Promise<unknown> {
  const r = await httpRequest(address, 15000, path);
  assert.equal(r.status, 200, `${address}${path}`);
  return JSON.parse(r.body);
}

describe("istioctl's commands on tsmesh up (bookinfo)", { timeout: 180_000 }, () => {
  let mesh: TestMesh;
  let registration: MeshRegistration;
  let stateDir: string;
  const target = () => ({ stateDir });

  before(async () => {
    mesh = await TestMesh.start({ example: "bookinfo", octet: OCTET });
    stateDir = mesh.mesh.stateDir;
    registration = new MeshRegistration(mesh.mesh, { name: `e2e-${OCTET}`, configDirs: [mesh.mesh.dir, mesh.appliedDir], intervalMs: 100 });
    registration.start();
    await mesh.apply(join(NETWORKING, "virtual-service-reviews-80-20.yaml"));
  });
  after(async () => {
    registration?.stop();
    await mesh?.stop();
  });

  it("up's registry record: every workload ready, with its node id and admin port", async () => {
    const record = await eventually("every workload ready in mesh.json", () => {
      const r = findMesh(target());
      return !(r instanceof Error) && r.workloads.length === 7 && r.workloads.every((w) => w.state === "ready") && r;
    });
    assert.equal(record.name, `e2e-${OCTET}`);
    assert.equal(record.pid, process.pid);
    assert.equal(record.xds, `127.${OCTET}.0.1:15010`);
    assert.equal(record.monitoring, `http://127.${OCTET}.0.1:15014`);
    const reviews = record.workloads.find((w) => w.name === "reviews-v1")!;
    assert.deepEqual(
      { role: reviews.role, address: reviews.address, adminPort: reviews.adminPort, proxyId: reviews.proxyId, app: reviews.app },
      { role: "sidecar", address: mesh.address("reviews-v1"), adminPort: 15000, proxyId: `sidecar~${mesh.address("reviews-v1")}~reviews-v1.default~default.svc.cluster.local`, app: { address: `127.${OCTET ^ 128}.${mesh.address("reviews-v1").split(".").slice(2).join(".")}`, ports: [9080] } },
    );
    // The node id is the one the proxy announces.
    const info = (await adminJson(reviews.address, "/server_info")) as { node: { id: string } };
    assert.equal(info.node.id, reviews.proxyId);
  });

  it("proxy-status: a row per proxy, CDS LDS EDS RDS synced", async () => {
    await mesh.mesh.converged();
    const r = await run((o, e) => runProxyStatus({ ...target(), output: "short" }, o, e));
    assert.equal(r.code, 0, r.err);
    const [head, ...rows] = r.out.split("\n");
    assert.match(head, /^NAME\s+CLUSTER\s+CDS\s+LDS\s+EDS\s+RDS\s+ECDS\s+.*ISTIOD\s+VERSION$/);
    assert.deepEqual(
      rows.map((l) => l.split(/\s{2,}/)[0]),
      ["details-v1.default", "istio-ingressgateway.istio-system", "productpage-v1.default", "ratings-v1.default", "reviews-v1.default", "reviews-v2.default", "reviews-v3.default"],
    );
    for (const row of rows) {
      const cells = row.split(/\s{2,}/);
      assert.equal(cells[1], "Kubernetes", row);
      for (const c of cells.slice(2, 6)) assert.match(c, /^SYNCED \(\d+[smh]/, row);
      assert.equal(cells[6], "IGNORED", row);
      assert.equal(cells.at(-1), "1.31.0", row);
    }
    const json = await run((o, e) => runProxyStatus({ ...target(), output: "json" }, o, e));
    assert.equal((JSON.parse(json.out) as unknown[]).length, 7);
  });

  it("proxy-status WORKLOAD: what istiod would send matches what each proxy holds", async () => {
    await mesh.mesh.converged();
    for (const w of ["reviews-v1", "productpage-v1", "istio-ingressgateway"]) {
      const r = await run((o, e) => runProxyStatus({ ...target(), workload: w, output: "short" }, o, e));
      assert.equal(r.code, 0, `${w}:\n${r.out}\n${r.err}`.slice(0, 6000));
      const lines = r.out.split("\n");
      assert.equal(lines[0], "Clusters Match");
      assert.equal(lines[1], "Listeners Match");
      assert.match(lines[2], /^Routes Match( \(RDS last loaded at .+\))?$/);
    }
  });

  const pc = (o: Partial<ProxyConfigOptions> & Pick<ProxyConfigOptions, "kind" | "workload">) => run((out, err) => runProxyConfig({ ...target(), output: "short", ...o }, out, err));

  it("proxy-config cluster: one row per cluster of the proxy's own /config_dump; filters narrow it", async () => {
    const dump = await adminJson(mesh.address("productpage-v1"), "/config_dump");
    const names = dumpedClusters(dump).map((c) => c.name);
    const r = await pc({ kind: "cluster", workload: "productpage-v1" });
    assert.equal(r.code, 0, r.err);
    const rows = r.out.split("\n").slice(1);
    assert.equal(rows.length, names.length);
    for (const n of names.filter((x) => x.startsWith("outbound|"))) {
      const [, port, subset, host] = n.split("|");
      assert.ok(rows.some((row) => new RegExp(`^${host.replace(/\./g, "\\.")}\\s+${port}\\s+${subset || "-"}\\s+outbound\\s+EDS`).test(row)), `${n} in\n${r.out}`);
    }
    const v2 = await pc({ kind: "cluster", workload: "productpage-v1", cluster: { fqdn: "reviews.default.svc.cluster.local", subset: "v2" } });
    assert.deepEqual(
      v2.out.split("\n").slice(1).map((l) => l.split(/\s{2,}/)),
      [["reviews.default.svc.cluster.local", "9080", "v2", "outbound", "EDS", "reviews.default"]],
    );
    const json = await pc({ kind: "cluster", workload: "productpage-v1", output: "json", cluster: { direction: "inbound" } });
    const inbound = JSON.parse(json.out) as Array<{ name: string }>;
    assert.deepEqual(
      inbound.map((c) => c.name),
      names.filter((n) => n.includes("inbound")),
    );
  });

  it("proxy-config listener, route and endpoint: the proxy's own listeners, routes and hosts", async () => {
    const address = mesh.address("productpage-v1");
    const dump = await adminJson(address, "/config_dump");
    const listeners = await pc({ kind: "listener", workload: "productpage-v1", output: "json" });
    assert.deepEqual(
      (JSON.parse(listeners.out) as Array<{ name: string }>).map((l) => l.name).sort(),
      dumpedListeners(dump)
        .map((l) => l.name)
        .sort(),
    );
    const table = await pc({ kind: "listener", workload: "productpage-v1", listener: { port: 9080 } });
    assert.match(table.out.split("\n")[0], /^ADDRESSES\s+PORT\s+MATCH\s+DESTINATION$/);
    assert.ok(table.out.split("\n").slice(1).length > 0 && table.out.split("\n").slice(1).every((l) => /\s9080\s/.test(l)), table.out);
    const routes = await pc({ kind: "route", workload: "productpage-v1", route: { name: "9080" } });
    assert.equal(routes.code, 0, routes.err);
    assert.ok(
      routes.out.split("\n").some((l) => /^9080\s+reviews\.default\.svc\.cluster\.local:9080\s+.*\/\*\s+reviews\.default$/.test(l)),
      routes.out,
    );
    const routeJson = JSON.parse((await pc({ kind: "route", workload: "productpage-v1", output: "json" })).out) as Array<{ name: string }>;
    assert.deepEqual(
      routeJson.map((r) => r.name),
      dumpedRoutes(dump).map((r) => r.name),
    );
    const endpoints = await pc({ kind: "endpoint", workload: "productpage-v1", endpoint: { cluster: "outbound|9080|v2|reviews.default.svc.cluster.local" } });
    // The status is the one the proxy's /clusters reports for that host.
    const clusters = (await adminJson(address, "/clusters?format=json")) as { cluster_statuses: Array<{ name: string; host_statuses: Array<{ health_status: { eds_health_status: string } }> }> };
    const v2 = clusters.cluster_statuses.find((c) => c.name === "outbound|9080|v2|reviews.default.svc.cluster.local")!;
    assert.deepEqual(
      endpoints.out.split("\n").slice(1).map((l) => l.split(/\s{2,}/)),
      [[`${mesh.address("reviews-v2")}:9080`, v2.host_statuses[0].health_status.eds_health_status, "OK", "outbound|9080|v2|reviews.default.svc.cluster.local"]],
    );
    const none = await pc({ kind: "endpoint", workload: "productpage-v1", endpoint: { status: "unhealthy" } });
    assert.equal(none.out.split("\n").length, 1, none.out);
    const secrets = await pc({ kind: "secret", workload: "productpage-v1" });
    assert.match(secrets.out, /^default\s+Cert Chain\s+ACTIVE\s+true\s/m);
    const bootstrap = JSON.parse((await pc({ kind: "bootstrap", workload: "productpage-v1" })).out) as { bootstrap: { node: { id: string } } };
    assert.equal(bootstrap.bootstrap.node.id, `sidecar~${address}~productpage-v1.default~default.svc.cluster.local`);
    const all = await pc({ kind: "all", workload: "productpage-v1" });
    for (const h of ["BOOTSTRAP", "CLUSTER", "LISTENER", "ROUTE", "SECRET", "ENDPOINTS"]) assert.ok(all.out.includes(`------ ${h} INFO ------`), h);
    assert.match(all.out, /^cluster\/outbound\|9080\|v2\|reviews\.default\.svc\.cluster\.local\s+reviews\.default\.svc\.cluster\.local\s+9080\s+v2\s+outbound\s+EDS/m);
    assert.match(all.out, /^route\/9080\s+reviews\.default\.svc\.cluster\.local:9080\s/m);
    assert.match(all.out, /^Istio Version: 1\.31\.0$/m);
    const yaml = await pc({ kind: "cluster", workload: "productpage-v1", output: "yaml", cluster: { fqdn: "ratings", subset: "v1" } });
    assert.match(yaml.out, /^- name: outbound\|9080\|v1\|ratings\.default\.svc\.cluster\.local$/m);
    const log = await pc({ kind: "log", workload: "productpage-v1" });
    assert.match(log.out, /upstream: info/);
  });

  it("proxy-config: unknown workload and no mesh are errors that say so", async () => {
    const r = await pc({ kind: "cluster", workload: "nobody" });
    assert.equal(r.code, 2);
    assert.match(r.err, /no workload "nobody" in mesh e2e-31 \(workloads: default\/details-v1/);
  });

  it("describe pod reviews-v1: its service, the DestinationRule's subsets and the 80/20 route", async () => {
    const r = await run((o, e) => runDescribe({ ...target(), what: "workload", ref: "reviews-v1" }, o, e));
    assert.equal(r.code, 0, r.err);
    const lines = r.out.split("\n");
    for (const want of [
      "Pod: reviews-v1",
      "Service: reviews",
      "   Port: http 9080/HTTP targets pod port 9080",
      'DestinationRule: reviews for "reviews"',
      "   Matching subsets: v1",
      "      (Non-matching subsets v2,v3)",
      "VirtualService: reviews",
      '   Route to host "reviews" subset "v1" with weight 80%',
      "Effective PeerAuthentication:",
      "   Workload mTLS mode: PERMISSIVE",
    ])
      assert.ok(lines.includes(want), `${JSON.stringify(want)} in\n${r.out}`);
  });

  it("describe pod reviews-v3: no route reaches it, and why", async () => {
    const r = await run((o, e) => runDescribe({ ...target(), what: "workload", ref: "default/reviews-v3" }, o, e));
    const lines = r.out.split("\n");
    assert.ok(lines.includes("   WARNING: No destinations match pod subsets (checked 1 HTTP routes)"), r.out);
    assert.ok(lines.includes("      Route to non-matching subset v1 for (everything)"), r.out);
  });

  it("describe service productpage: exposed on the ingress gateway with the bookinfo routes", async () => {
    const r = await run((o, e) => runDescribe({ ...target(), what: "service", ref: "productpage" }, o, e));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^Exposed on Ingress Gateway http://${mesh.gatewayUrl.slice("http://".length).replace(/\./g, "\\.")}$`, "m"));
    assert.match(r.out, /^VirtualService: bookinfo$/m);
    assert.match(r.out, /Match: \/productpage, Match: \/static\*/);
    assert.match(r.out, /^Workloads: productpage-v1 \(/m);
  });

  it("version, dashboard, exec and analyze find the mesh through the registry", async () => {
    const v = await run((o, e) => runVersion({ ...target(), output: "short" }, o, e));
    assert.deepEqual(v.out.split("\n"), [`client version: ${tsmeshVersion()}`, `control plane version: ${tsmeshVersion()}`, `data plane version: ${tsmeshVersion()} (7 proxies)`]);
    const d = await run((o, e) => runDashboard({ ...target(), which: "envoy", workload: "ratings-v1", output: "short" }, o, e));
    assert.equal(d.out, `http://${mesh.address("ratings-v1")}:15000`);
    const all = await run((o, e) => runDashboard({ ...target(), output: "short" }, o, e));
    assert.equal(all.out.split("\n").length, 1 + 1 + 7);
    assert.deepEqual(findWorkload({ config: [], ...target() }, "details-v1", "exec"), { name: "details-v1", namespace: "default", address: mesh.address("details-v1") });
    const a = await run((o) => runAnalyze([], { ...target(), output: "json", failureThreshold: "Error" }, o));
    assert.equal(a.code, 0, a.out);
    assert.ok(Array.isArray(JSON.parse(a.out)));
  });

  it("describe reads the proxy's inbound RBAC policies once an AuthorizationPolicy applies; proxy-status still matches", async () => {
    await mesh.apply(
      "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: reviews-viewer, namespace: default}\nspec:\n  selector: {matchLabels: {app: reviews}}\n  action: ALLOW\n  rules: [{to: [{operation: {methods: [GET]}}]}]\n",
    );
    const r = await eventually("the RBAC policy in describe", async () => {
      const d = await run((o, e) => runDescribe({ ...target(), what: "workload", ref: "reviews-v1" }, o, e));
      return d.out.includes("RBAC policies: ns[default]-policy[reviews-viewer]-rule[0]") && d;
    });
    assert.ok(r.out.split("\n").includes("Applied AuthorizationPolicy:"), r.out);
    assert.ok(r.out.split("\n").includes("   reviews-viewer"), r.out);
    const ps = await run((o, e) => runProxyStatus({ ...target(), workload: "reviews-v1", output: "short" }, o, e));
    assert.equal(ps.code, 0, ps.out.slice(0, 4000));
  });

  it("analyze without files reports the running mesh's problems, by resource", async () => {
    await mesh.apply("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews, namespace: default}\nspec:\n  hosts: [reviews]\n  http: [{route: [{destination: {host: reviews, subset: v9}}]}]\n");
    const a = await run((o) => runAnalyze([], { ...target(), output: "text", failureThreshold: "Error" }, o));
    assert.equal(a.code, 1, a.out);
    assert.match(a.out, /^Error \[IST0101\] \(VirtualService default\/reviews\) Referenced host\+subset in destinationrule not found: "reviews\.default\.svc\.cluster\.local\+v9"$/m);
    const d = await run((o, e) => runDescribe({ ...target(), what: "workload", ref: "reviews-v1" }, o, e));
    assert.ok(d.out.split("\n").includes("      Warning: Route to UNKNOWN subset v9; check DestinationRule reviews"), d.out);
  });

  it("a crashed app makes its workload failing in mesh.json until it is ready again", async () => {
    const ratings = mesh.mesh.workload("ratings-v1")!;
    const state = () => {
      const r = findMesh(target());
      return r instanceof Error ? undefined : r.workloads.find((w) => w.name === "ratings-v1")?.state;
    };
    process.kill(ratings.app!.pid!, "SIGKILL");
    await eventually("ratings-v1 failing", () => state() === "failing", 10_000, 10);
    await eventually("ratings-v1 ready again", () => state() === "ready", 20_000);
    const ps = await run((o, e) => runVersion({ ...target(), output: "json" }, o, e));
    assert.deepEqual((JSON.parse(ps.out) as { unreachable: string[] }).unreachable, []);
  });

  it("the record goes when the mesh stops", () => {
    registration.stop();
    assert.equal(existsSync(join(stateDir, MESH_FILE)), false);
    assert.ok(findMesh(target()) instanceof Error);
    assert.equal(readFileSync(join(stateDir, "istio-ca-root-cert.pem"), "utf8").includes("BEGIN CERTIFICATE"), true);
  });
});
