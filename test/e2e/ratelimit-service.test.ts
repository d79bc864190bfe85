// `tsmesh ratelimit` as `tsmesh up` runs it (examples/ratelimit on 127.115.x.y): two replicas and
// Redis as workloads, each behind its sidecar. Asked over gRPC at their workload addresses (through
// the sidecars' inbound, as the gateway's rate-limit filter reaches them), the replicas share the
// task's 1-per-minute limit on /productpage through the one Redis; each serves /healthcheck and the
// task's config through its sidecar. The proxy's rate-limit filter is not part of this test.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../helpers/eventually.js";
import { httpRequest, TestMesh } from "../helpers/mesh.js";
import { skipUnlessPresent } from "../helpers/prereqs.js";
import { HAVE_REDIS, rlsClient, type RlsResult } from "../helpers/ratelimit.js";

const OCTET = 115;
const REPLICAS = [`127.${OCTET}.12.1`, `127.${OCTET}.12.2`];
const PRODUCTPAGE = { domain: "ratelimit", descriptors: [{ entries: [{ key: "PATH", value: "/productpage" }] }] };

describe("tsmesh ratelimit under tsmesh up (examples/ratelimit)", { skip: skipUnlessPresent("redis-server", HAVE_REDIS) }, () => {
  let mesh: TestMesh;
  const clients = REPLICAS.map((a) => rlsClient(`${a}:8081`));

  before(async () => {
    mesh = await TestMesh.start({ example: "ratelimit", octet: OCTET });
  });

  after(async () => {
    for (const c of clients) c.close();
    await mesh?.stop();
  });

  it("each replica is healthy (Redis reached) through its sidecar", async () => {
    for (const a of REPLICAS) {
      await eventually(`${a}:8080/healthcheck`, async () => (await httpRequest(a, 8080, "/healthcheck")).body === "OK", 60_000, 200);
    }
    const rlconfig = await httpRequest(REPLICAS[0], 6070, "/rlconfig");
    assert.match(rlconfig.body, /^ratelimit\.PATH_\/productpage: unit=MINUTE requests_per_unit=1,/m);
  });

  it("the replicas share the task's 1-per-minute limit on /productpage: OK from one, OVER_LIMIT from the other", async () => {
    const ok = (r: RlsResult) => ("ok" in r ? r.ok : undefined);
    // Wait for a window with room for two calls (the windows are the wall clock's minutes).
    let first = await eventually("an answer from replica 1", async () => ok(await clients[0].call(PRODUCTPAGE)), 30_000, 200);
    let reset = (first.statuses as Array<{ durationUntilReset?: { seconds: number } }>)[0].durationUntilReset?.seconds ?? 0;
    if (first.overallCode !== "OK" || reset < 15) {
      await new Promise((r) => setTimeout(r, (reset + 1) * 1000));
      first = ok(await clients[0].call(PRODUCTPAGE))!;
      reset = (first.statuses as Array<{ durationUntilReset?: { seconds: number } }>)[0].durationUntilReset?.seconds ?? 0;
    }
    assert.equal(first.overallCode, "OK");
    const second = ok(await clients[1].call(PRODUCTPAGE));
    assert.equal(second?.overallCode, "OVER_LIMIT", "the other replica counts in the same Redis");
    const stats = await httpRequest(REPLICAS[1], 6070, "/stats");
    assert.match(stats.body, /^ratelimit\.service\.rate_limit\.ratelimit\.PATH_\/productpage\.over_limit: 1$/m);
  });
});
