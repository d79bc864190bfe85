// The worker/primary link of the proxy-wide buckets, without processes: asks of one event-loop
// turn travel in one batch, the primary's one set of buckets answers each worker exactly, and a
// worker whose primary is gone does not hold requests.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type BucketAsk, PrimaryTokenBuckets, WorkerTokenBuckets } from "../../../src/proxy/ratelimit/shared-buckets.js";
import { LocalTokenBuckets } from "../../../src/proxy/ratelimit/token-bucket.js";

const SPEC = { key: "k", maxTokens: 3, fillRate: 0.001 };

describe("proxy-wide buckets over a link", () => {
  it("two workers share the primary's bucket: 3 tokens, 3 allowed in all", async () => {
    const primary = new PrimaryTokenBuckets(new LocalTokenBuckets({ now: () => 0 }));
    const batches: number[] = [];
    const workers: WorkerTokenBuckets[] = [];
    for (let i = 0; i < 2; i++) {
      const w: WorkerTokenBuckets = new WorkerTokenBuckets((asks: BucketAsk[]) => {
        batches.push(asks.length);
        // The primary answers asynchronously, as over IPC.
        setImmediate(() => w.receive(primary.receive(asks)));
        return true;
      });
      workers.push(w);
    }
    const verdicts = await Promise.all([0, 1, 2, 3, 4].map((i) => workers[i % 2].consume([SPEC])));
    assert.equal(verdicts.filter((v) => v.allowed).length, 3);
    // Worker 0's batch (requests 0, 2, 4) reaches the primary first and takes the three tokens.
    assert.deepEqual(
      verdicts.map((v) => v.allowed),
      [true, false, true, false, true],
    );
    assert.deepEqual(batches, [3, 2], "one batch per worker per turn");
    assert.equal(workers[0].waiting + workers[1].waiting, 0);
  });

  it("a closed link or a gone primary lets requests through instead of holding them", async () => {
    const dead = new WorkerTokenBuckets(() => false);
    assert.equal((await dead.consume([SPEC])).allowed, true);
    const silent = new WorkerTokenBuckets(() => true);
    const pending = silent.consume([SPEC]);
    await new Promise((r) => setImmediate(r));
    assert.equal(silent.waiting, 1);
    silent.close();
    assert.equal((await pending).allowed, true);
    assert.equal((await silent.consume([SPEC])).allowed, true);
  });
});
