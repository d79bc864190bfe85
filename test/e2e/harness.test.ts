// The mesh harness itself: meshes run one after another on the same addresses, each torn down
// completely (no process, no listening port) before the next starts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { portsBoundOn, processesUsing } from "../helpers/leftovers.js";
import { TestMesh } from "../helpers/mesh.js";

const OCTET = 105;

describe("the mesh harness", { timeout: 90_000 }, () => {
  it("runs several meshes in sequence on the same addresses without leftovers", async () => {
    for (let round = 0; round < 2; round++) {
      const mesh = await TestMesh.start({ example: "httpbin-tcp-echo", octet: OCTET });
      const pids = mesh.mesh.list().flatMap((w) => [w.proxy.pid, w.app?.pid]).filter((p): p is number => p !== undefined);
      try {
        const r = await mesh.fromWorkload("curl", "http://httpbin:8000/status/200");
        assert.equal(r.status, 200, `round ${round}`);
      } finally {
        await mesh.stop();
      }
      assert.deepEqual(processesUsing(pids), [], `round ${round}: processes left`);
      assert.deepEqual(portsBoundOn([`127.${OCTET}.`, `127.${OCTET ^ 0x80}.`]), [], `round ${round}: ports left`);
    }
  });
});
