// WorkloadEntry auto-registration through a real Discovery over real gRPC: a proxy connecting with
// AUTO_REGISTER_GROUP becomes an endpoint of the services selecting its group's labels, gets its
// own inbound config from the entry, and is removed a grace period after it disconnects.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { AUTO_REGISTRATION_GROUP_ANNOTATION, autoRegisteredName, DISCONNECTED_AT_ANNOTATION } from "../../src/controlplane/autoregistration.js";
import { Discovery } from "../../src/controlplane/discovery.js";
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE } from "../../src/envoy/protos.js";
import { proxyNodeId } from "../../src/model/proxy.js";
import { eventually } from "../helpers/eventually.js";
import { type DeltaResponse, type DeltaStream, deltaStreamTo } from "../xds/server/helpers.js";

const CONFIG = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vm-app, namespace: vms}
spec:
  hosts: [vm-app.vms.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: vm-app}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: {name: vm-app, namespace: vms}
spec:
  metadata:
    labels: {app: vm-app}
    annotations: {team: payments}
  template:
    labels: {version: v1}
    serviceAccount: vm-app-sa
    ports: {http: 8080}
`;

const CLUSTER = "outbound|8080||vm-app.vms.svc.cluster.local";

describe("WorkloadEntry auto-registration", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-autoreg-"));
  let discovery: Discovery;
  let client: grpc.Client;
  const streams: DeltaStream[] = [];
  const logs: string[] = [];

  before(async () => {
    writeFileSync(join(dir, "vm.yaml"), CONFIG);
    discovery = new Discovery({
      configPaths: [dir],
      xdsAddress: "127.0.0.1:0",
      monitoringAddress: "",
      workloadEntryGraceMs: 300,
      log: (l) => logs.push(l),
    });
    const { xdsPort } = await discovery.start();
    client = new grpc.Client(`127.0.0.1:${xdsPort}`, grpc.credentials.createInsecure());
  });
  after(async () => {
    for (const s of streams) s.close();
    client.close();
    await discovery.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function open(ip: string, name: string, metadata: Record<string, unknown>, locality?: Record<string, string>): DeltaStream {
    const s = deltaStreamTo(client, { id: proxyNodeId("sidecar", ip, name, "vms"), metadata: { NAMESPACE: "vms", INTERCEPTION_MODE: "NONE", ...metadata }, locality });
    streams.push(s);
    return s;
  }

  /** Reads responses (ACKing each) until `pred` holds for one; returns it. */
  async function until(s: DeltaStream, what: string, pred: (r: DeltaResponse) => boolean): Promise<DeltaResponse> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const r = await s.next(Math.max(1, deadline - Date.now())).catch(() => undefined);
      if (!r) throw new Error(`timed out waiting for ${what}`);
      s.ack(r);
      if (pred(r)) return r;
    }
  }

  const addresses = (r: DeltaResponse): string[] =>
    r.resources.flatMap((res) =>
      ((res.object.endpoints as Array<{ lbEndpoints: Array<{ endpoint: { address: { socketAddress: { address: string } } } }> }>) ?? []).flatMap((l) =>
        l.lbEndpoints.map((e) => e.endpoint.address.socketAddress.address),
      ),
    );

  it("registers a WorkloadEntry from the group's template and serves it as an endpoint", async () => {
    // A client of the service first: it sees no endpoints.
    const clientStream = open("127.0.41.1", "client", { LABELS: { app: "client" } });
    clientStream.request(ENDPOINT_TYPE, [CLUSTER]);
    const empty = await clientStream.next();
    clientStream.ack(empty);
    assert.deepEqual(addresses(empty), []);

    const vm = open("127.0.41.2", "vm-1", { AUTO_REGISTER_GROUP: "vm-app", LABELS: { "istio-locality": "r1.z1", extra: "x" } }, { region: "r1", zone: "z1" });
    vm.request(CLUSTER_TYPE);
    vm.request(LISTENER_TYPE);

    const name = autoRegisteredName("vm-app", "127.0.41.2", "");
    assert.equal(name, "vm-app-127.0.41.2");
    const we = await eventually("the entry in the store", () => discovery.store.get("WorkloadEntry", "vms", name));
    assert.equal(we.spec.address, "127.0.41.2");
    assert.equal(we.spec.serviceAccount, "vm-app-sa");
    assert.deepEqual(we.spec.ports, { http: 8080 });
    assert.equal(we.spec.locality, "r1/z1");
    // Template < group metadata < node labels; the locality label is not a workload label.
    assert.deepEqual(we.spec.labels, { version: "v1", app: "vm-app", extra: "x" });
    assert.equal(we.metadata.annotations?.[AUTO_REGISTRATION_GROUP_ANNOTATION], "vm-app");
    assert.equal(we.metadata.annotations?.team, "payments");

    // The client gets the new endpoint pushed.
    const withVm = await until(clientStream, "the VM endpoint", (r) => addresses(r).includes("127.0.41.2"));
    assert.deepEqual(addresses(withVm), ["127.0.41.2"]);

    // The VM's own sidecar gets inbound config for the port its entry declares.
    await until(vm, "the inbound listener", (r) => r.typeUrl === LISTENER_TYPE && r.resources.some((x) => x.name === "127.0.41.2_8080"));
  });

  it("keeps the entry through a reconnect within the grace period, removes it after", async () => {
    const name = "vm-app-127.0.41.2";
    const vm1 = streams[1];
    vm1.close();
    const marked = await eventually("disconnectedAt", () => {
      const we = discovery.store.get("WorkloadEntry", "vms", name);
      return we?.metadata.annotations?.[DISCONNECTED_AT_ANNOTATION] ? we : undefined;
    });
    assert.ok(marked);
    // Reconnect before the 300 ms grace ends: the entry stays (and is connected again).
    const again = open("127.0.41.2", "vm-1", { AUTO_REGISTER_GROUP: "vm-app" });
    again.request(CLUSTER_TYPE);
    await again.next();
    await eventually("reconnected", () => !discovery.store.get("WorkloadEntry", "vms", name)?.metadata.annotations?.[DISCONNECTED_AT_ANNOTATION]);
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(discovery.store.get("WorkloadEntry", "vms", name), "still registered after the grace period while connected");

    // Gone for good: removed after the grace period, and the client's endpoints follow.
    again.close();
    await eventually("removal", () => discovery.store.get("WorkloadEntry", "vms", name) === undefined);
    const clientStream = streams[0];
    await until(clientStream, "the endpoint removed", (r) => r.typeUrl === ENDPOINT_TYPE && addresses(r).length === 0);
    assert.ok(logs.some((l) => /removed auto-registered WorkloadEntry vms\/vm-app-127\.0\.41\.2/.test(l)), logs.join("\n"));
  });

  it("refuses a proxy whose WorkloadGroup does not exist, naming the group", async () => {
    const s = open("127.0.41.3", "vm-2", { AUTO_REGISTER_GROUP: "no-such-group" });
    s.request(CLUSTER_TYPE);
    const status = await s.status;
    assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
    assert.match(status.details, /WorkloadGroup vms\/no-such-group not found/);
    assert.equal(discovery.store.list("WorkloadEntry").length, 0);
  });

  it("a WorkloadEntry written in the config folder wins over the auto-registered one", async () => {
    const vm = open("127.0.41.4", "vm-3", { AUTO_REGISTER_GROUP: "vm-app" });
    vm.request(CLUSTER_TYPE);
    await vm.next();
    const name = "vm-app-127.0.41.4";
    await eventually("auto entry", () => discovery.store.get("WorkloadEntry", "vms", name));
    writeFileSync(
      join(dir, "pinned.yaml"),
      `apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: ${name}, namespace: vms}\nspec:\n  address: 127.0.41.4\n  labels: {app: vm-app, version: pinned}\n`,
    );
    await eventually("the folder's entry", () => discovery.store.get("WorkloadEntry", "vms", name)?.spec.labels?.version === "pinned");
    assert.notEqual(discovery.store.sourceOf("WorkloadEntry", "vms", name), "autoregistration");
  });
});
