// Istio's tcp-traffic-shifting task, Gateway API variant, on a real local mesh (`tsmesh up`'s
// httpbin-tcp-echo on 127.133.x.y): the sample's Gateway gets a router whose address the Gateway's
// status reports (the task reads INGRESS_HOST from status.addresses), its TCPRoute sends all
// connections to tcp-echo v1, then 80/20 between v1 and v2.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import type { AnyResource } from "../../src/api/resource.js";
import { packageRoot } from "../../src/core/paths.js";
import { gatewayApiStatusProvider } from "../../src/model/gateway-api/status.js";
import { binomialRange } from "../helpers/binomial.js";
import { eventually } from "../helpers/eventually.js";
import { TestMesh } from "../helpers/mesh.js";
import { echoLine } from "../helpers/sockets.js";

const OCTET = 133;
const SAMPLES = join(packageRoot(), "samples/tcp-echo/gateway-api");

/** A sample file without its Kubernetes Services (tsmesh reads the ServiceEntries in examples/tcp-echo-versions instead). */
function withoutServices(file: string): string {
  return parseAllDocuments(readFileSync(file, "utf8"))
    .filter((d) => (d.toJS() as { kind?: string } | null)?.kind !== "Service")
    .map((d) => d.toString())
    .join("---\n");
}

describe("tcp-echo on tsmesh up through the Kubernetes Gateway API", { timeout: 240_000 }, () => {
  let mesh: TestMesh;
  let host = "";

  before(async () => {
    mesh = await TestMesh.start({ example: "httpbin-tcp-echo", octet: OCTET, apply: [join(packageRoot(), "examples/tcp-echo-versions/services-versions.yaml")] });
  });
  after(async () => {
    await mesh?.stop();
  });

  it("tcp-echo-all-v1: the Gateway is programmed, its status gives the address, every connection reaches v1", async () => {
    await mesh.apply(withoutServices(join(SAMPLES, "tcp-echo-all-v1.yaml")));
    const store = mesh.mesh.discovery.store;
    const resources = store.list() as AnyResource[];
    const gw = resources.find((r) => r.kind === "KubernetesGateway" && r.metadata.name === "tcp-echo-gateway")!;
    const memos = new Map<string, unknown>();
    const status = gatewayApiStatusProvider(gw, { resources, memo: <T>(k: string, f: () => T) => (memos.has(k) ? memos.get(k) : memos.set(k, f()).get(k)) as T }) as {
      addresses: Array<{ value: string }>;
      conditions: Array<{ type: string; status: string }>;
    };
    assert.equal(status.conditions.find((c) => c.type === "Programmed")?.status, "True");
    host = status.addresses[0].value;
    assert.equal(host, `127.${OCTET}.255.1`);
    // The router starts after the apply (up reconciles its plan): wait for it to answer.
    assert.match(await eventually("the gateway's router", () => echoLine(host, 31400, "hello"), 60_000, 250), /^one hello/);
    for (let i = 0; i < 10; i++) assert.match(await echoLine(host, 31400, `n${i}`), /^one /);
  });

  it("tcp-echo-20-v2: 80% of connections reach v1, 20% v2", async () => {
    await mesh.apply(withoutServices(join(SAMPLES, "tcp-echo-20-v2.yaml")));
    const n = 50;
    let two = 0;
    for (let i = 0; i < n; i++) {
      const line = await echoLine(host, 31400, `c${i}`);
      assert.match(line, /^(one|two) /);
      if (line.startsWith("two")) two++;
    }
    const [lo, hi] = binomialRange(n, 0.2);
    assert.ok(two >= lo && two <= hi, `v2 answered ${two} of ${n} (${lo}..${hi} expected)`);
  });
});
