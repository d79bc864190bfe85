// Istio's access-log tasks (logs-access-log, logs-telemetry-api) on a real local mesh
// (127.127.x.y): mesh config `accessLogFile: /dev/stdout` gives Istio's default text format on every
// proxy's stdout — which `tsmesh up` keeps in its log folder, one `NAMESPACE.NAME.proxy.log` per
// workload, as `kubectl logs -c istio-proxy` would show — with the upstream cluster, response code
// details and response flags; `accessLogEncoding: JSON` gives Istio's JSON fields; a Telemetry's
// access-log filter `response.code >= 400` keeps only those lines; TCP connections (tcp-echo through
// the gateway) leave lines too; and a provider's custom format may use the %REQ_WITHOUT_QUERY% and
// %CEL% formatter extensions Istio lists for it.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { packageRoot } from "../../src/core/paths.js";
import { eventually } from "../helpers/eventually.js";
import { istioMeshConfigMap, TestMesh } from "../helpers/mesh.js";
import { echoLine as echo } from "../helpers/sockets.js";

const OCTET = 127;
const HTTPBIN = "outbound|8000||httpbin.default.svc.cluster.local";

const meshConfig = (extra: string) =>
  istioMeshConfigMap(`accessLogFile: /dev/stdout
${extra}
extensionProviders:
- name: custom-log
  envoyFileAccessLog:
    path: /dev/stdout
    logFormat:
      text: "CUSTOM %REQ_WITHOUT_QUERY(:PATH)% code=%CEL(response.code)% rid=%REQ(X-REQUEST-ID)%"
rootNamespace: istio-system
trustDomain: cluster.local
`);

describe("access logs on tsmesh up (Istio's logs tasks)", { timeout: 180_000 }, () => {
  let mesh: TestMesh;

  /** The lines a workload's proxy wrote to stdout (and stderr: its own log lines), as `kubectl logs -c istio-proxy`. */
  function proxyLog(ns: string, name: string): string[] {
    const file = join(mesh.mesh.logDir, `${ns}.${name}.proxy.log`);
    return existsSync(file) ? readFileSync(file, "utf8").split("\n") : [];
  }

  /** The proxy's line carrying `needle`, once its batched writer flushed (Envoy's: every second). */
  function lineWith(ns: string, name: string, needle: string): Promise<string> {
    return eventually(`${ns}/${name}'s access log line with ${needle}`, () => proxyLog(ns, name).find((l) => l.includes(needle)), 20_000, 100).catch((e: Error) => {
      // The proxy's own complaints (a NACKed listener…) say why a line never came.
      const why = proxyLog(ns, name).filter((l) => /\]\[(warning|warn|error|critical)\]/.test(l)).slice(-5);
      throw new Error(`${e.message}\n${why.join("\n")}`);
    });
  }

  before(async () => {
    mesh = await TestMesh.start({ example: "httpbin-tcp-echo", octet: OCTET });
  });
  after(async () => {
    await mesh?.stop();
  });

  it("accessLogFile /dev/stdout: Istio's text format on both sidecars, naming the upstream cluster", async () => {
    await mesh.apply(meshConfig(""));
    const rid = randomUUID();
    const r = await mesh.fromWorkload("curl", "http://httpbin:8000/status/418", { headers: { "x-request-id": rid, "user-agent": "curl/7.73.0-DEV" } });
    assert.equal(r.status, 418);
    // [2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 4 "-" "curl/7.73.0-DEV" "RID" "httpbin:8000" "IP:PORT" outbound|8000||httpbin… LOCAL DOWNSTREAM_LOCAL DOWNSTREAM_REMOTE - default
    const client = await lineWith("default", "curl", rid);
    const ip = `127\\.${OCTET}\\.\\d+\\.\\d+`;
    assert.match(
      client,
      new RegExp(`^\\[\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\] "GET /status/418 HTTP/1\\.1" 418 - via_upstream - "-" 0 \\d+ \\d+ \\d+ "-" "curl/7\\.73\\.0-DEV" "${rid}" "httpbin:8000" "${ip}:\\d+" ${HTTPBIN.replace(/\|/g, "\\|")} \\S+ ${ip}:15001 \\S+ - default$`),
    );
    // Either httpbin version served it: its sidecar logged the inbound side.
    const server = await eventually(`httpbin's inbound line with ${rid}`, () => [...proxyLog("default", "httpbin-v1"), ...proxyLog("default", "httpbin-v2")].find((l) => l.includes(rid)), 20_000, 100);
    assert.match(server, /"GET \/status\/418 HTTP\/1\.1" 418 - via_upstream - "-" .* inbound\|\d+\|\| /);
    assert.match(server, /outbound_\.8000_\._\.httpbin\.default\.svc\.cluster\.local/, "the inbound side's requested server name (mTLS SNI)");
  });

  it("response flags: a fault-injected abort logs FI", async () => {
    await mesh.apply(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin-fault
spec:
  hosts:
  - httpbin
  http:
  - match:
    - headers:
        x-fault:
          exact: abort
    fault:
      abort:
        httpStatus: 555
        percentage:
          value: 100
    route:
    - destination:
        host: httpbin
  - route:
    - destination:
        host: httpbin
`);
    const rid = randomUUID();
    const r = await mesh.fromWorkload("curl", "http://httpbin:8000/get", { headers: { "x-request-id": rid, "x-fault": "abort" } });
    assert.equal(r.status, 555);
    assert.match(await lineWith("default", "curl", rid), /"GET \/get HTTP\/1\.1" 555 FI fault_filter_abort /);
  });

  it("TCP connections leave lines: tcp-echo through the gateway's 31400", async () => {
    await mesh.apply(join(packageRoot(), "samples/tcp-echo/tcp-echo-all-v1.yaml"));
    assert.match(await echo(`127.${OCTET}.1.1`, 31400, "hello"), /^one hello/);
    // A TCP line has no method or response code: "- - -" 0 - - -, then the cluster.
    const gw = await lineWith("istio-system", "istio-ingressgateway", "outbound|9000|v1|tcp-echo.default.svc.cluster.local");
    assert.match(gw, /"- - -" 0 - - - "-" \d+ \d+ \d+ - "-" "-" "-" "-" "127\.\d+\.\d+\.\d+:\d+" outbound\|9000\|v1\|tcp-echo\.default\.svc\.cluster\.local /);
    const inbound = await lineWith("default", "tcp-echo-v1", "inbound|9000||");
    assert.match(inbound, /"- - -" 0 - - - "-" \d+ \d+ /);
  });

  it("accessLogEncoding JSON: Istio's JSON fields, numbers typed", async () => {
    await mesh.apply(meshConfig("accessLogEncoding: JSON"));
    const rid = randomUUID();
    assert.equal((await mesh.fromWorkload("curl", "http://httpbin:8000/status/418?x=1", { headers: { "x-request-id": rid } })).status, 418);
    const line = JSON.parse(await lineWith("default", "curl", rid)) as Record<string, unknown>;
    assert.equal(line.upstream_cluster, HTTPBIN);
    assert.equal(line.response_code, 418);
    assert.equal(line.response_flags, "-");
    assert.equal(line.response_code_details, "via_upstream");
    assert.equal(line.method, "GET");
    assert.equal(line.path, "/status/418?x=1");
    assert.equal(line.authority, "httpbin:8000");
    assert.equal(typeof line.duration, "number");
  });

  it("a Telemetry access-log filter response.code >= 400 keeps only those lines", async () => {
    await mesh.apply(meshConfig(""));
    await mesh.apply(`apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: mesh-default
  namespace: istio-system
spec:
  accessLogging:
  - providers:
    - name: envoy
    filter:
      expression: response.code >= 400
`);
    const ok = randomUUID();
    const bad = randomUUID();
    assert.equal((await mesh.fromWorkload("curl", "http://httpbin:8000/status/200", { headers: { "x-request-id": ok } })).status, 200);
    assert.equal((await mesh.fromWorkload("curl", "http://httpbin:8000/status/418", { headers: { "x-request-id": bad } })).status, 418);
    // The 418's line was written after the 200's would have been (one writer, in order).
    assert.match(await lineWith("default", "curl", bad), /" 418 - via_upstream /);
    assert.equal(proxyLog("default", "curl").filter((l) => l.includes(ok)).length, 0, "no line for the 200");
  });

  it("a provider format with %REQ_WITHOUT_QUERY% and %CEL% (Istio lists their formatter extensions)", async () => {
    await mesh.apply(`apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: curl-custom
  namespace: default
spec:
  selector:
    matchLabels:
      app: curl
  accessLogging:
  - providers:
    - name: custom-log
`);
    const rid = randomUUID();
    assert.equal((await mesh.fromWorkload("curl", "http://httpbin:8000/status/201?secret=1", { headers: { "x-request-id": rid } })).status, 201);
    assert.equal(await lineWith("default", "curl", `rid=${rid}`), `CUSTOM /status/201 code=201 rid=${rid}`);
  });
});
