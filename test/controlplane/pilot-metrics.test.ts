// The control plane's istiod metrics around a push, driven by real config changes in a watched
// folder: pilot_inbound_updates by type (config per update request; svc, svcdelete and eds per
// service the registry saw change), pilot_debounce_time per debounced push, and
// pilot_pushcontext_init_seconds per PushContext built (none for an incremental EDS push); read at
// the end from the monitoring port, with istiod's bucket boundaries.
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Discovery } from "../../src/controlplane/discovery.js";
import { eventually } from "../helpers/eventually.js";

const VM_SERVICE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vm-app, namespace: default}
spec:
  hosts: [vm-app.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: vm-app}}
`;
const VM_WORKLOAD = `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-1, namespace: default}
spec: {address: 127.0.0.30, labels: {app: vm-app}}
`;
const EXTERNAL = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: default}
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 443, name: tls, protocol: TLS}]
  endpoints: [{address: 127.0.0.31}]
`;
const ROUTE = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vm-app, namespace: default}
spec:
  hosts: [vm-app.default.svc.cluster.local]
  http: [{timeout: 3s, route: [{destination: {host: vm-app.default.svc.cluster.local}}]}]
`;

test("discovery metrics: inbound updates by type, debounce time and push context init time follow real config changes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-pilot-metrics-"));
  const write = (file: string, text: string) => {
    const tmp = join(dir, `.${file}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(dir, file));
  };
  write("vm-service.yaml", VM_SERVICE);
  const logs: string[] = [];
  const d = new Discovery({ configPaths: [dir], xdsAddress: "127.0.0.1:0", monitoringAddress: "127.0.0.1:0", debounceQuietMs: 10, log: (l) => logs.push(l) });
  try {
    await d.start();
    const m = d.server.metrics;
    const inbound = () => Object.fromEntries(["config", "svc", "svcdelete", "eds"].map((t) => [t, m.inboundUpdates.get({ type: t })]));
    const pushed = (n: number) => eventually(`debounced push ${n}`, () => m.debounceTime.count() === n);
    assert.equal(m.pushContextInitTime.count(), 1, "the first PushContext");
    assert.deepEqual(inbound(), { config: 0, svc: 0, svcdelete: 0, eds: 0 });
    assert.equal(m.debounceTime.count(), 0);

    // A workload joins the service: endpoints only, the incremental EDS path (no new PushContext).
    write("vm-workload.yaml", VM_WORKLOAD);
    await pushed(1);
    assert.deepEqual(inbound(), { config: 1, svc: 0, svcdelete: 0, eds: 1 });
    assert.equal(m.pushContextInitTime.count(), 1, "an incremental EDS push builds no PushContext");
    assert.ok(/^pilot_push_eds_incremental 1$/m.test(d.metrics.render()), "it was the incremental path");
    assert.ok(m.debounceTime.sum() >= 0.01, `at least the 10 ms quiet period: ${m.debounceTime.sum()} s`);

    // A new service (with its own endpoints): svc and eds for it, and a full push.
    write("external.yaml", EXTERNAL);
    await pushed(2);
    assert.deepEqual(inbound(), { config: 2, svc: 1, svcdelete: 0, eds: 2 });
    assert.equal(m.pushContextInitTime.count(), 2);

    // Routing config touches no service.
    write("route.yaml", ROUTE);
    await pushed(3);
    assert.deepEqual(inbound(), { config: 3, svc: 1, svcdelete: 0, eds: 2 });
    assert.equal(m.pushContextInitTime.count(), 3);

    // The service goes: svcdelete, and its endpoints go with it.
    rmSync(join(dir, "external.yaml"));
    await pushed(4);
    assert.deepEqual(inbound(), { config: 4, svc: 1, svcdelete: 1, eds: 3 });
    assert.equal(m.pushContextInitTime.count(), 4);

    // A service with endpoints changes its definition (a port added): svc, and its instances with it.
    write("vm-service.yaml", VM_SERVICE.replace("ports: [{number: 8080, name: http, protocol: HTTP}]", "ports: [{number: 8080, name: http, protocol: HTTP}, {number: 9090, name: grpc, protocol: GRPC}]"));
    await pushed(5);
    assert.deepEqual(inbound(), { config: 5, svc: 2, svcdelete: 1, eds: 4 });
    assert.equal(m.pushContextInitTime.count(), 5);

    const res = await fetch(`http://127.0.0.1:${d.monitoringPort}/metrics`);
    const text = await res.text();
    for (const line of [
      'pilot_inbound_updates{type="config"} 5',
      'pilot_inbound_updates{type="svc"} 2',
      'pilot_inbound_updates{type="svcdelete"} 1',
      'pilot_inbound_updates{type="eds"} 4',
      "# TYPE pilot_inbound_updates counter",
      "# TYPE pilot_debounce_time histogram",
      "pilot_debounce_time_count 5",
      "# TYPE pilot_pushcontext_init_seconds histogram",
      "pilot_pushcontext_init_seconds_count 5",
    ]) {
      assert.ok(text.split("\n").includes(line), `${line} in\n${text}`);
    }
    const buckets = (name: string) => [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}`, "gm"))].map((x) => x[1]);
    assert.deepEqual(buckets("pilot_debounce_time"), ["0.01", "0.1", "0.5", "1", "3", "5", "10", "20", "30", "+Inf"]);
    assert.deepEqual(buckets("pilot_pushcontext_init_seconds"), ["0.01", "0.1", "0.5", "1", "3", "5", "+Inf"]);
  } finally {
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
