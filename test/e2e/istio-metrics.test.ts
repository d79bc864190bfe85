// Istio's standard metrics on a real local mesh (127.113.x.y, the httpbin-tcp-echo example), read
// from each workload's merged endpoint :15020/stats/prometheus: TCP metrics for tcp-echo through the
// gateway's port 31400 at both reporters (peers from the mTLS ALPN metadata exchange), and Istio's
// telemetry-api / customize-metrics tasks — custom tags with CEL values on the client and the
// server side, and a disabled metric that stops counting while the others go on.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { packageRoot } from "../../src/core/paths.js";
import { eventually } from "../helpers/eventually.js";
import { httpRequest, TestMesh } from "../helpers/mesh.js";
import { exposedSamples, type Sample } from "../helpers/prometheus-text.js";

const OCTET = 113;
const TCP_ECHO = join(packageRoot(), "samples/tcp-echo");

/** Sum of a metric's samples on a workload's :15020/stats/prometheus whose labels include `match`. */
async function metric(address: string, name: string, match: Record<string, string>): Promise<{ sum: number; samples: Sample[] }> {
  const r = await httpRequest(address, 15020, "/stats/prometheus");
  assert.equal(r.status, 200, r.body);
  const samples = exposedSamples(r.body).filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
  return { sum: samples.reduce((a, s) => a + s.value, 0), samples };
}

/** One TCP connection: send a line, read the first line back, close. */
function echo(host: string, port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port }, () => s.write(line + "\n"));
    let got = "";
    s.setTimeout(5000, () => s.destroy(new Error(`no answer from ${host}:${port}`)));
    s.on("data", (b: Buffer) => {
      got += b.toString();
      const nl = got.indexOf("\n");
      if (nl >= 0) {
        s.end();
        resolve(got.slice(0, nl + 1));
      }
    });
    s.on("error", reject);
  });
}

describe("Istio's standard metrics on tsmesh up (tcp-echo, httpbin, the Telemetry API)", { timeout: 180_000 }, () => {
  let mesh: TestMesh;
  before(async () => {
    mesh = await TestMesh.start({ example: "httpbin-tcp-echo", octet: OCTET });
  });
  after(async () => {
    await mesh?.stop();
  });

  it("tcp-echo through the gateway: istio_tcp_* at both reporters with the peers' workloads and mutual_tls", async () => {
    await mesh.apply(join(TCP_ECHO, "tcp-echo-all-v1.yaml"));
    const gw = mesh.address("istio-ingressgateway");
    const echoV1 = mesh.address("tcp-echo-v1");
    let sent = 0;
    let received = 0;
    for (let i = 0; i < 5; i++) {
      const line = `hello ${i}\n`;
      const answer = await echo(gw, 31400, line.trimEnd());
      assert.match(answer, /^one hello/);
      sent += line.length;
      received += answer.length;
    }
    const dst = { reporter: "destination", source_workload: "istio-ingressgateway", source_workload_namespace: "istio-system", destination_workload: "tcp-echo-v1", destination_workload_namespace: "default", destination_service: "tcp-echo.default.svc.cluster.local", destination_service_name: "tcp-echo", request_protocol: "tcp", connection_security_policy: "mutual_tls" };
    const closed = await eventually("tcp-echo-v1's 5 closed connections", async () => {
      const m = await metric(echoV1, "istio_tcp_connections_closed_total", dst);
      return m.sum >= 5 ? m : undefined;
    }, 30_000, 250).catch(async (e: Error) => {
      const all = [...(await metric(echoV1, "istio_tcp_connections_closed_total", {})).samples, ...(await metric(gw, "istio_tcp_connections_closed_total", {})).samples];
      throw new Error(`${e.message}: ${JSON.stringify(all)}`);
    });
    assert.equal(closed.samples.length, 1, JSON.stringify(closed.samples));
    const l = closed.samples[0].labels;
    assert.equal(l.source_principal, "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account");
    assert.equal(l.destination_principal, "spiffe://cluster.local/ns/default/sa/tcp-echo");
    assert.equal(l.response_code, undefined, "TCP metrics carry no response_code");
    assert.equal((await metric(echoV1, "istio_tcp_connections_opened_total", dst)).sum, 5);
    // Payload bytes as tcp_proxy counts them: what the gateway forwarded, and the echoes — not the
    // metadata-exchange bytes before them on the same connection (istio/proxy's own TCP exchange
    // e2e expects exactly 10 × 6 received and 10 × 12 sent with the exchange on).
    assert.equal((await metric(echoV1, "istio_tcp_received_bytes_total", dst)).sum, sent);
    assert.equal((await metric(echoV1, "istio_tcp_sent_bytes_total", dst)).sum, received);
    // The gateway reports as the source: it knows tcp-echo-v1 from the exchange; the policy it cannot know.
    const src = { reporter: "source", source_workload: "istio-ingressgateway", destination_workload: "tcp-echo-v1", destination_service: "tcp-echo.default.svc.cluster.local", connection_security_policy: "unknown" };
    await eventually("the gateway's 5 closed connections", async () => (await metric(gw, "istio_tcp_connections_closed_total", src)).sum >= 5, 30_000, 250);
    assert.equal((await metric(gw, "istio_tcp_received_bytes_total", src)).sum, sent);
  });

  it("Telemetry API: custom tags with CEL values appear on the client and the server side", async () => {
    // Istio's telemetry-api task (custom-tags, CLIENT and SERVER, its expressions as written) and
    // customize-metrics' expressions.
    await mesh.apply(`apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: custom-tags
  namespace: istio-system
spec:
  metrics:
    - overrides:
        - match:
            metric: REQUEST_COUNT
            mode: CLIENT
          tagOverrides:
            destination_x:
              value: upstream_peer.labels['app'].value
            destination_y:
              value: filter_state['upstream_peer'].app
            request_host:
              value: 'has(request.host) ? request.host : "unknown"'
        - match:
            metric: REQUEST_COUNT
            mode: SERVER
          tagOverrides:
            source_x:
              value: downstream_peer.labels['app'].value
            destination_port:
              value: string(destination.port)
            grpc_response_status:
              operation: REMOVE
      providers:
        - name: prometheus
`);
    for (let i = 0; i < 4; i++) assert.equal((await mesh.fromWorkload("curl", "http://httpbin:8000/status/200")).status, 200);
    const client = await eventually("curl's requests with destination_x", async () => {
      const m = await metric(mesh.address("curl"), "istio_requests_total", { reporter: "source", destination_service: "httpbin.default.svc.cluster.local" });
      return m.sum >= 4 ? m : undefined;
    }, 30_000, 250);
    for (const s of client.samples) {
      assert.equal(s.labels.destination_x, "httpbin");
      assert.equal(s.labels.destination_y, "httpbin");
      assert.equal(s.labels.request_host, "httpbin:8000");
      assert.equal(s.labels.source_workload, "curl");
    }
    const server = { reporter: "destination", source_workload: "curl", destination_app: "httpbin", connection_security_policy: "mutual_tls" };
    const seen = await eventually("httpbin's requests with source_x", async () => {
      const both = [await metric(mesh.address("httpbin-v1"), "istio_requests_total", server), await metric(mesh.address("httpbin-v2"), "istio_requests_total", server)];
      return both[0].sum + both[1].sum >= 4 ? [...both[0].samples, ...both[1].samples] : undefined;
    }, 30_000, 250);
    for (const s of seen) {
      assert.equal(s.labels.source_x, "curl");
      assert.match(s.labels.destination_port, /^\d+$/);
      assert.equal(s.labels.grpc_response_status, undefined, "removed by the Telemetry");
    }
  });

  it("Telemetry API: disabling REQUEST_COUNT stops istio_requests_total while the duration histogram goes on", async () => {
    await mesh.delete(`apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: custom-tags
  namespace: istio-system
`);
    // Istio's telemetry-api task, remove-request-count (mesh-wide).
    await mesh.apply(`apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: remove-request-count
  namespace: istio-system
spec:
  metrics:
    - providers:
        - name: prometheus
      overrides:
        - disabled: true
          match:
            mode: CLIENT_AND_SERVER
            metric: REQUEST_COUNT
`);
    const curl = mesh.address("curl");
    const to = { reporter: "source", destination_service: "httpbin.default.svc.cluster.local" };
    const before = (await metric(curl, "istio_requests_total", to)).sum;
    const durations = (await metric(curl, "istio_request_duration_milliseconds_count", to)).sum;
    for (let i = 0; i < 3; i++) assert.equal((await mesh.fromWorkload("curl", "http://httpbin:8000/status/200")).status, 200);
    await eventually("the duration histogram counted them", async () => (await metric(curl, "istio_request_duration_milliseconds_count", to)).sum >= durations + 3, 30_000, 250);
    assert.equal((await metric(curl, "istio_requests_total", to)).sum, before, "istio_requests_total is disabled");
  });
});
