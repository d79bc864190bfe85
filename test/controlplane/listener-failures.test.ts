// A Gateway API Gateway whose router cannot bind its port, as the control plane sees it: a real
// Discovery (with the mesh API's status providers) and a real router proxy, the Gateway's port held
// by a socket of this test (EADDRINUSE takes the same path as EACCES for a user without
// CAP_NET_BIND_SERVICE). The router's LDS NACK is kept by proxy address and the Gateway and its
// listener are Programmed=False naming the address:port and the error; moving the listener to a
// free port clears it (the newer listeners are ACKed) and the Gateway is Programmed again.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { AnyResource } from "../../src/api/resource.js";
import { Discovery } from "../../src/controlplane/discovery.js";
import { bindFailuresIn, ListenerFailures, proxyAddressOf } from "../../src/controlplane/listener-failures.js";
import { StatusContext } from "../../src/controlplane/status.js";
import { proxyNodeId } from "../../src/model/proxy.js";
import { ProxyServer } from "../../src/proxy/proxy.js";
import { eventually } from "../helpers/eventually.js";
import { holdPort } from "../helpers/held-port.js";

const ROUTER = "127.98.255.1";

const mesh = (port: number) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: web-1, namespace: default}
spec: {address: 127.98.0.1, labels: {app: web}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web-gateway, namespace: default}
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, port: ${port}, protocol: HTTP}
`;

type Condition = { type: string; status: string; reason: string; message: string };

describe("a Gateway whose router cannot bind its port", { timeout: 120_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), "tsmesh-listener-failures-"));
  let held: net.Server;
  let heldPort = 0;
  let discovery: Discovery;
  let proxy: ProxyServer;
  let failures: ListenerFailures;
  const changes: Array<{ nodeId: string; n: number }> = [];

  const gatewayStatus = () => {
    const all = discovery.store.list() as AnyResource[];
    const gw = all.find((r) => r.kind === "KubernetesGateway")!;
    const s = discovery.meshApi!.status.statusOf(gw, new StatusContext(all, { rootNamespace: "istio-system" }))!;
    const programmed = (s.conditions as Condition[]).find((c) => c.type === "Programmed")!;
    const listener = ((s.listeners as Array<{ conditions: Condition[] }>)[0].conditions).find((c) => c.type === "Programmed")!;
    return { programmed, listener };
  };

  before(async () => {
    held = await holdPort(ROUTER);
    heldPort = (held.address() as net.AddressInfo).port;
    mkdirSync(join(root, "config"));
    writeFileSync(join(root, "config", "mesh.yaml"), mesh(heldPort));
    discovery = new Discovery({ configPaths: [join(root, "config")], stateDir: join(root, "state"), secureXdsAddress: "", xdsAddress: "127.0.0.1:0", monitoringAddress: "", debounceQuietMs: 10, log: () => {} });
    failures = new ListenerFailures(discovery.server, (nodeId, f) => changes.push({ nodeId, n: f.length }));
    const { xdsPort } = await discovery.start();
    proxy = new ProxyServer({
      discoveryAddress: `127.0.0.1:${xdsPort}`,
      node: {
        id: proxyNodeId("router", ROUTER, "web-gateway-istio", "default"),
        metadata: { NAMESPACE: "default", LABELS: { "gateway.networking.k8s.io/gateway-name": "web-gateway" }, INTERCEPTION_MODE: "NONE" },
      },
      ip: ROUTER,
      log: () => {},
    });
    await proxy.start();
    await proxy.ready();
    await eventually("the bind failure", () => failures.at(ROUTER).length > 0, 60_000);
  });
  after(async () => {
    await proxy?.close();
    await discovery?.close();
    held?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("keeps the router's bind failure by its address", () => {
    assert.deepEqual(
      failures.at(ROUTER).map(({ listener, address, port, error }) => ({ listener, address, port, error })),
      [{ listener: `0.0.0.0_${heldPort}`, address: ROUTER, port: heldPort, error: "Address already in use" }],
    );
    assert.deepEqual(changes[0], { nodeId: proxyNodeId("router", ROUTER, "web-gateway-istio", "default"), n: 1 });
  });

  it("the Gateway and its listener are Programmed=False, naming the address:port and the error", () => {
    const { programmed, listener } = gatewayStatus();
    const message = `The router could not listen on ${ROUTER}:${heldPort}: Address already in use`;
    assert.deepEqual({ status: programmed.status, reason: programmed.reason, message: programmed.message }, { status: "False", reason: "Invalid", message });
    assert.deepEqual({ status: listener.status, reason: listener.reason, message: listener.message }, { status: "False", reason: "Invalid", message });
  });

  it("a free port clears it: the Gateway is Programmed again", async () => {
    const probe = await holdPort(ROUTER);
    const free = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    writeFileSync(join(root, "config", "mesh.yaml"), mesh(free));
    await eventually("the failure to clear", () => failures.at(ROUTER).length === 0, 60_000);
    await eventually("the new listener", () => proxy.listeners.list().some((l) => l.port === free), 60_000);
    assert.equal(gatewayStatus().programmed.status, "True");
    assert.deepEqual(changes.at(-1)?.n, 0);
  });
});

describe("bindFailuresIn: the bind failures an LDS NACK names", () => {
  const table: Array<[string, string, ReturnType<typeof bindFailuresIn>]> = [
    ["one", "Error adding/updating listener(s) 0.0.0.0_80: cannot bind '127.0.255.1:80': Permission denied", [{ listener: "0.0.0.0_80", address: "127.0.255.1", port: 80, error: "Permission denied" }]],
    [
      "two",
      "Error adding/updating listener(s) 0.0.0.0_80: cannot bind '127.0.255.1:80': Permission denied, 0.0.0.0_443: cannot bind '127.0.255.1:443': Address already in use",
      [
        { listener: "0.0.0.0_80", address: "127.0.255.1", port: 80, error: "Permission denied" },
        { listener: "0.0.0.0_443", address: "127.0.255.1", port: 443, error: "Address already in use" },
      ],
    ],
    ["IPv6", "Error adding/updating listener(s) x: cannot bind '[::1]:80': Cannot assign requested address", [{ listener: "x", address: "::1", port: 80, error: "Cannot assign requested address" }]],
    ["another rejection", "Listener 0.0.0.0_80: filterChains[0]: unknown filter", []],
    ["empty", "", []],
  ];
  for (const [what, message, want] of table) it(what, () => assert.deepEqual(bindFailuresIn(message), want));
  it("proxyAddressOf reads the node id's address", () => {
    assert.equal(proxyAddressOf("router~127.0.255.1~gw.default~default.svc.cluster.local"), "127.0.255.1");
    assert.equal(proxyAddressOf("nonsense"), undefined);
  });
});
