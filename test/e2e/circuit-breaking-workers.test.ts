// Istio's circuit-breaking task with every proxy at `--concurrency 2` (`tsmesh up --concurrency 2`,
// httpbin example on 127.117.x.y): the same outcome as with one process per proxy
// (httpbin-tasks.test.ts): the curl sidecar's two workers share one max_connections, one
// http1MaxPendingRequests and one pending-overflow count, so 200s and 503s add up and every 503
// is a pending overflow in the sidecar's /stats.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ADMIN_PORT } from "../../src/local/mesh.js";
import { httpRequest, TestMesh } from "../helpers/mesh.js";
import { circuitBreakingTask } from "./circuit-breaking-task.js";

const OCTET = 117;

describe("httpbin on tsmesh up --concurrency 2: Istio's circuit-breaking task", { timeout: 120_000 }, () => {
  let mesh: TestMesh;
  before(async () => {
    mesh = await TestMesh.start({ example: "httpbin-tcp-echo", octet: OCTET, proxyConcurrency: 2 });
  });
  after(async () => {
    await mesh?.stop();
  });

  it("one caller gets through; three concurrent callers trip the breaker, each 503 a pending overflow, as with one process", async () => {
    const info = JSON.parse((await httpRequest(mesh.address("curl"), ADMIN_PORT, "/server_info")).body) as { workers: number[] };
    assert.equal(info.workers.length, 2, "the curl sidecar runs two workers");
    // The share of 503s varies more than with one process: each worker balances over httpbin's two
    // endpoints on its own, so concurrent requests meet on one host (no per-host exception) more often.
    await circuitBreakingTask(mesh);
  });
});
