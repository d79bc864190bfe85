// Two `tsmesh ratelimit` replicas on one real redis-server, asked over real gRPC: they share one
// limit (1 per hour: the first answer OK from one replica, the second OVER_LIMIT from the other);
// with Redis killed the calls fail with an error status (so the proxy's failure mode applies) and
// are counted as redis_error; once Redis is back the replicas reconnect and answer again. Also the
// HTTP port (/healthcheck, /json, /metrics) and the debug port (/stats, /rlconfig).
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Clock } from "../../src/core/clock.js";
import { rateLimitOptions, startRateLimit, type RunningRateLimit } from "../../src/cli/ratelimit.js";
import { eventually } from "../helpers/eventually.js";
import { httpRequest } from "../helpers/mesh.js";
import { skipUnlessPresent } from "../helpers/prereqs.js";
import { freePort, HAVE_REDIS, rlsClient, startRedis, stopRedis } from "../helpers/ratelimit.js";

const HOST = "127.0.0.1";

const CONFIG = `
domain: rl
descriptors:
  - key: PATH
    value: "/productpage"
    rate_limit:
      unit: hour
      requests_per_unit: 1
  - key: PATH
    rate_limit:
      unit: hour
      requests_per_unit: 100
`;

const PRODUCTPAGE = { domain: "rl", descriptors: [{ entries: [{ key: "PATH", value: "/productpage" }] }] };

describe("tsmesh ratelimit: two replicas on one redis-server, over gRPC", { skip: skipUnlessPresent("redis-server", HAVE_REDIS) }, () => {
  let redis: ChildProcess | undefined;
  let redisPort = 0;
  let dir = "";
  const replicas: RunningRateLimit[] = [];
  const clients: Array<ReturnType<typeof rlsClient>> = [];
  const logs: string[] = [];
  // One fixed instant for both replicas, so the two calls fall in one window whatever the time.
  const fixed: Clock = { now: () => 1_700_000_000_000 + 5_000, setTimeout: (fn, ms) => setTimeout(fn, ms).unref(), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };

  before(async () => {
    redisPort = await freePort(HOST);
    redis = await startRedis(HOST, redisPort);
    dir = mkdtempSync(join(tmpdir(), "rl-redis-"));
    writeFileSync(join(dir, "config.yaml"), CONFIG);
    for (let i = 0; i < 2; i++) {
      const o = rateLimitOptions(["--config", dir, "--redis", `${HOST}:${redisPort}`, "--grpc-address", `${HOST}:0`, "--http-address", `${HOST}:0`, "--debug-address", `${HOST}:0`], {});
      replicas.push(await startRateLimit(o, (l) => logs.push(`[${i}] ${l}`), fixed));
      clients.push(rlsClient(replicas[i].server.addresses.grpc!));
    }
    for (const r of replicas) await eventually("the replica reached redis", () => r.server.healthy, 20_000);
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const r of replicas) await r.close();
    await stopRedis(redis);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("shares one limit: OK from one replica, then OVER_LIMIT from the other", async () => {
    const first = await clients[0].call(PRODUCTPAGE);
    assert.ok("ok" in first, `an answer, got ${"error" in first ? first.error.message : ""}`);
    assert.deepEqual(first.ok, { overallCode: "OK", statuses: [{ code: "OK", currentLimit: { requestsPerUnit: 1, unit: "HOUR" }, durationUntilReset: { seconds: 2795 } }] });
    const second = await clients[1].call(PRODUCTPAGE);
    assert.ok("ok" in second);
    assert.deepEqual(second.ok, { overallCode: "OVER_LIMIT", statuses: [{ code: "OVER_LIMIT", currentLimit: { requestsPerUnit: 1, unit: "HOUR" }, durationUntilReset: { seconds: 2795 } }] });
    // Another path counts separately under the key-only limit.
    const other = await clients[1].call({ domain: "rl", descriptors: [{ entries: [{ key: "PATH", value: "/reviews" }] }] });
    assert.ok("ok" in other);
    assert.equal(other.ok.overallCode, "OK");
    assert.equal((other.ok.statuses as Array<{ limitRemaining: number }>)[0].limitRemaining, 99);
  });

  it("the HTTP and debug ports: /healthcheck, /json (429 when over), /metrics, /stats, /rlconfig", async () => {
    const [host, port] = replicas[0].server.addresses.http!.split(":");
    const health = await httpRequest(host, Number(port), "/healthcheck");
    assert.deepEqual([health.status, health.body], [200, "OK"]);
    const json = await httpRequest(host, Number(port), "/json", { method: "POST", body: JSON.stringify({ domain: "rl", descriptors: [{ entries: [{ key: "PATH", value: "/productpage" }] }] }) });
    assert.equal(json.status, 429);
    assert.deepEqual(JSON.parse(json.body), { overallCode: "OVER_LIMIT", statuses: [{ code: "OVER_LIMIT", currentLimit: { requestsPerUnit: 1, unit: "HOUR" }, durationUntilReset: "2795s" }] });
    const badJson = await httpRequest(host, Number(port), "/json", { method: "POST", body: JSON.stringify({ domain: "rl", descriptorz: [] }) });
    assert.equal(badJson.status, 400);
    const metrics = await httpRequest(host, Number(port), "/metrics");
    assert.match(metrics.body, /^ratelimit_service_rate_limit_over_limit\{domain="rl",key1="PATH_\/productpage"\} 1$/m);
    const [dhost, dport] = replicas[0].server.addresses.debug!.split(":");
    const stats = await httpRequest(dhost, Number(dport), "/stats");
    assert.match(stats.body, /^ratelimit\.service\.rate_limit\.rl\.PATH_\/productpage\.total_hits: 2$/m);
    const rlconfig = await httpRequest(dhost, Number(dport), "/rlconfig");
    assert.match(rlconfig.body, /^rl\.PATH_\/productpage: unit=HOUR requests_per_unit=1, shadow_mode: false, quota_mode: false$/m);
  });

  it("refuses an oversized request without touching Redis", async () => {
    const r = await clients[0].call({ domain: "rl", descriptors: [{ entries: [{ key: "PATH", value: "x".repeat(5000) }] }] });
    assert.ok("error" in r);
    assert.equal(r.error.code, grpc.status.INVALID_ARGUMENT);
    const huge = await clients[0].call({ domain: "rl", descriptors: [{ entries: [{ key: "PATH", value: "x".repeat(300 * 1024) }] }] });
    assert.ok("error" in huge);
    assert.equal(huge.error.code, grpc.status.RESOURCE_EXHAUSTED);
  });

  it("Redis killed: calls fail with an error status (counted, logged); Redis back: answers again", async () => {
    await stopRedis(redis);
    await eventually("the replicas noticed", async () => {
      const r = await clients[0].call(PRODUCTPAGE);
      return "error" in r && r.error.code === grpc.status.UNKNOWN && /redis/.test(r.error.details);
    }, 20_000);
    const r1 = await clients[1].call(PRODUCTPAGE);
    assert.ok("error" in r1, "the other replica fails too");
    assert.equal(r1.error.code, grpc.status.UNKNOWN);
    assert.ok(replicas[1].service.stats.service["call.should_rate_limit.redis_error"] >= 1);
    assert.ok(logs.some((l) => /\[error\]\[ratelimit\] redis redis:\/\/127\.0\.0\.1:\d+: /.test(l)), "the outage is logged");
    redis = await startRedis(HOST, redisPort);
    // The restarted Redis kept nothing (--save ""): the window starts over, still shared.
    const back = await eventually("replica 0 answers again", async () => {
      const r = await clients[0].call(PRODUCTPAGE);
      return "ok" in r ? r.ok : undefined;
    }, 30_000, 100);
    assert.equal(back.overallCode, "OK");
    const shared = await eventually("replica 1 answers again", async () => {
      const r = await clients[1].call(PRODUCTPAGE);
      return "ok" in r ? r.ok : undefined;
    }, 30_000, 100);
    assert.equal(shared.overallCode, "OVER_LIMIT");
  });
});
