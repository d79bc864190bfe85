// `tsmesh tap` on a real local mesh (bookinfo, 127.125.x.y, two worker processes per proxy): the
// command finds productpage's proxy from the mesh config as `tsmesh exec` does and shows the
// requests going through it live — the gateway's request coming in, productpage's calls to details
// and reviews going out — with the tapper's filter applied in the proxy; when it stops, the proxy
// taps nothing any more (its admin forgets the tapper and the workers stop forwarding).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { packageRoot } from "../../src/core/paths.js";
import type { TapEvent } from "../../src/proxy/observability/tap.js";
import { eventually } from "../helpers/eventually.js";
import { TestMesh } from "../helpers/mesh.js";

const OCTET = 125;
const bin = join(packageRoot(), "dist/src/cli/bin.js");

/** `tsmesh tap` run as a user runs it, its output collected. */
function tap(mesh: TestMesh, ...args: string[]) {
  const child = spawn(process.execPath, [bin, "tap", ...args, "--config", join(mesh.root, "config")]);
  const r = { stdout: "", stderr: "", exit: new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c))), child };
  child.stdout.setEncoding("utf8").on("data", (c: string) => (r.stdout += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (r.stderr += c));
  return r;
}

describe("tsmesh tap on bookinfo", { timeout: 240_000 }, () => {
  let mesh: TestMesh;
  before(async () => {
    mesh = await TestMesh.start({ example: "bookinfo", octet: OCTET, proxyConcurrency: 2 });
  });
  after(async () => {
    await mesh?.stop();
  });

  it("shows productpage's requests live, in and out, and stops tapping when it ends", async () => {
    const t = tap(mesh, "productpage-v1", "-o", "json");
    try {
      await eventually("the tap connected", async () => {
        assert.equal((await mesh.gateway("/productpage")).status, 200);
        return t.stdout.includes("\n");
      }, 60_000, 500);
      const events = () => t.stdout.trim().split("\n").map((l) => JSON.parse(l) as TapEvent);
      // Pages keep coming: the first may have begun before the proxy's workers were tapping.
      await eventually("inbound /productpage and outbound calls to details and reviews", async () => {
        await mesh.gateway("/productpage");
        const e = events();
        return e.some((x) => x.direction === "inbound" && x.path === "/productpage" && x.status === 200) && e.some((x) => x.direction === "outbound" && x.dst.cluster === "outbound|9080||details.default.svc.cluster.local") && e.some((x) => x.direction === "outbound" && x.dst.cluster === "outbound|9080||reviews.default.svc.cluster.local");
      }, 60_000, 200).catch((e: Error) => {
        throw new Error(`${e.message}; got ${t.stdout.slice(0, 2000)} ${t.stderr}`);
      });
      const inbound = events().find((x) => x.direction === "inbound" && x.path === "/productpage")!;
      assert.equal(inbound.method, "GET");
      assert.equal(inbound.dst.cluster, "inbound|9080||");
      assert.ok(inbound.latencyMs >= 0 && inbound.bytesSent > 0);
      t.child.kill("SIGINT");
      assert.equal(await t.exit, 0, t.stderr);
      await eventually("productpage's proxy has no tapper left", async () => (await mesh.stats("productpage-v1")).get("tap.tappers") === 0);
    } finally {
      t.child.kill("SIGKILL");
    }
  });

  it("filters in the proxy: --path /reviews on reviews-v2 prints Linkerd's req/rsp lines for those only", async () => {
    const t = tap(mesh, "reviews-v2", "--path", "/reviews");
    try {
      await eventually("a req/rsp pair", async () => {
        await mesh.gateway("/productpage");
        return /^rsp .*:status=200/m.test(t.stdout);
      }, 60_000, 500);
      const lines = t.stdout.trim().split("\n");
      assert.ok(lines.every((l) => /^(req|rsp) id=\d+ proxy=(in|out) /.test(l)), t.stdout);
      assert.ok(lines.filter((l) => l.startsWith("req")).every((l) => / :path=\/reviews/.test(l) && / :method=GET /.test(l)), t.stdout);
      t.child.kill("SIGINT");
      assert.equal(await t.exit, 0, t.stderr);
    } finally {
      t.child.kill("SIGKILL");
    }
  });
});
