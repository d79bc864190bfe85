// Istio's "Enabling Rate Limits using Envoy" task (docs/tasks/policy-enforcement/rate-limit) on
// `tsmesh up`'s bookinfo (127.122.x.y), with the task's EnvoyFilters as the page gives them:
// - local rate limit: productpage's inbound gets a 4-token bucket (per 60 s): four 200s, then 429
//   with x-local-rate-limit: true;
// - global rate limit: the gateway asks `tsmesh ratelimit` (two replicas sharing one real Redis,
//   the task's ConfigMap as their config) with a PATH descriptor: /productpage is 1 per minute, so
//   one 200 and then 429s, whichever replica answers; with Redis gone the service fails and the
//   filter's failure_mode_deny answers 500; with Redis back, limits apply again.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { packageRoot } from "../../src/core/paths.js";
import { httpRequest, TestMesh } from "../helpers/mesh.js";
import { skipUnlessPresent } from "../helpers/prereqs.js";
import { HAVE_REDIS, startRedis, stopRedis } from "../helpers/ratelimit.js";
import { eventually } from "./helpers.js";

const OCTET = 122;
const REDIS = { host: `127.${OCTET}.200.1`, port: 6379 };
const TASK = readFileSync(join(packageRoot(), "test", "fixtures", "rate-limit-task.yaml"), "utf8");

/** The task's YAML document whose metadata.name is `name`. */
function taskDoc(name: string): string {
  const doc = TASK.split(/^---$/m).find((d) => new RegExp(`^\\s*name: ${name}$`, "m").test(d));
  if (!doc) throw new Error(`no ${name} in the task's YAML`);
  return doc;
}

/** Waits until at least `margin` ms remain in the current minute (the service's windows are calendar minutes). */
async function awayFromMinuteEdge(margin: number): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < margin) await new Promise((r) => setTimeout(r, left + 100));
}

describe("Istio's rate limit task on tsmesh up's bookinfo", { timeout: 300_000, skip: skipUnlessPresent("redis-server", HAVE_REDIS) }, () => {
  let mesh: TestMesh;
  let redis: ChildProcess | undefined;
  let dir: string;
  /** Where a workload's app listens (its private address). */
  const appAddress = (key: string) => {
    const a = mesh.mesh.workload(key)?.plan.appAddress;
    if (!a) throw new Error(`no app address for ${key}`);
    return a;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "tsmesh-rate-limit-"));
    mesh = await TestMesh.start({ example: "bookinfo", octet: OCTET });
    await eventually("the product page", async () => (await mesh.gateway("/productpage")).status === 200, 30_000);
  });
  after(async () => {
    await mesh?.stop();
    await stopRedis(redis);
    rmSync(dir, { recursive: true, force: true });
  });

  it("local rate limit: productpage's inbound allows 4 requests a minute, then 429 with x-local-rate-limit", async () => {
    await mesh.apply(taskDoc("filter-local-ratelimit-svc"));
    const statuses: number[] = [];
    let limited;
    for (let i = 0; i < 6; i++) {
      const r = await mesh.gateway("/productpage");
      statuses.push(r.status);
      if (r.status === 429) limited = r;
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
    assert.equal(limited?.body, "local_rate_limited");
    assert.equal(limited?.headers["x-local-rate-limit"], "true");
    const stats = await mesh.stats("productpage-v1");
    assert.equal(stats.get("http_local_rate_limiter.http_local_rate_limit.rate_limited"), 2);
    await mesh.delete(taskDoc("filter-local-ratelimit-svc"));
  });

  it("global rate limit: two tsmesh ratelimit replicas on one Redis hold /productpage to 1 a minute", async () => {
    redis = await startRedis(REDIS.host, REDIS.port);
    const config = join(dir, "ratelimit-config.yaml");
    writeFileSync(config, taskDoc("ratelimit-config"));
    const replica = (n: number) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: ratelimit-${n}
  namespace: default
  annotations:
    tsmesh.io/command: "tsmesh ratelimit --config ${config} --redis ${REDIS.host}:${REDIS.port}"
spec:
  address: 127.0.30.${n}
  labels:
    app: ratelimit
  serviceAccount: ratelimit
`;
    await mesh.apply(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ratelimit
  namespace: default
spec:
  hosts:
  - ratelimit.default.svc.cluster.local
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: 8080, name: http-port, protocol: HTTP}
  - {number: 8081, name: grpc-port, protocol: GRPC}
  - {number: 6070, name: http-debug, protocol: HTTP}
  workloadSelector:
    labels:
      app: ratelimit
---
${replica(1)}---
${replica(2)}`);
    for (const n of [1, 2]) await eventually(`ratelimit-${n} healthy`, async () => (await httpRequest(appAddress(`default/ratelimit-${n}`), 8080, "/healthcheck").catch(() => ({ status: 0 }))).status === 200, 30_000);
    await mesh.apply(`${taskDoc("filter-ratelimit")}---\n${taskDoc("filter-ratelimit-svc")}`);
    await awayFromMinuteEdge(20_000);
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await mesh.gateway("/productpage")).status);
    assert.deepEqual(statuses, [200, ...Array<number>(11).fill(429)]);
    // Other paths have 100 a minute.
    assert.equal((await mesh.gateway("/static/css/style.css")).status !== 429, true);
    // Both replicas answered (least request over two endpoints, 12 calls): the limit is shared.
    for (const n of [1, 2]) {
      const m = await httpRequest(appAddress(`default/ratelimit-${n}`), 8080, "/metrics");
      assert.match(m.body, /ratelimit_service_rate_limit_total_hits\{[^}]*\} [1-9]/, `replica ${n} counted hits`);
    }
  });

  it("failure_mode_deny: with Redis gone the service fails and the gateway answers 500; back, the limit holds", async () => {
    await stopRedis(redis);
    redis = undefined;
    await eventually("500 while the service cannot count", async () => (await mesh.gateway("/productpage")).status === 500, 30_000);
    redis = await startRedis(REDIS.host, REDIS.port);
    await awayFromMinuteEdge(20_000);
    await eventually("the service counts again", async () => (await mesh.gateway("/productpage")).status !== 500, 30_000);
    assert.equal((await mesh.gateway("/productpage")).status, 429);
  });
});
