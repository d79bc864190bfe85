// `tsmesh tap` against a running proxy's admin: Linkerd's req/rsp lines (text and wide), -o json,
// filters reaching the proxy, the end on Ctrl-C (the real command, SIGINT: exit 0, the proxy forgets
// the tapper) and when the proxy goes away (exit 1, a message), and refusals.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { formatTapEvent, runTap, tapUrl } from "../../src/cli/tap.js";
import { packageRoot } from "../../src/core/paths.js";
import { AdminServer } from "../../src/proxy/admin.js";
import { tapRecord } from "../../src/proxy/observability/tap.js";
import { ProxyServer } from "../../src/proxy/proxy.js";
import { eventually } from "../helpers/eventually.js";
import { FLAG_BIT, inboundHttpInfo, peer, inboundTcpInfo } from "../proxy/observability/stream-info-fixtures.js";

const IP = "127.125.201.1";
const bin = join(packageRoot(), "dist/src/cli/bin.js");

describe("tsmesh tap: output lines", () => {
  it("text: Linkerd's req and rsp lines; wide adds identities, cluster, route; tcp: one line", () => {
    const http = {
      id: 7,
      ...tapRecord(
        inboundHttpInfo({
          direction: "outbound",
          downstreamTls: { peerPrincipal: "spiffe://cluster.local/ns/default/sa/pp", localPrincipal: "", peerCertificatePresented: true, sni: "", version: "TLSv1.3", alpn: "" },
          filterState: new Map([["upstream_peer", peer("reviews-v1", "default", "spiffe://cluster.local/ns/default/sa/reviews")]]),
          upstreamCluster: "outbound|9080||reviews.default.svc.cluster.local",
          upstreamHost: "127.0.0.5:9080",
          flags: FLAG_BIT.UF,
          responseCode: 503,
          grpcStatus: 14,
        }),
      ),
    };
    assert.deepEqual(formatTapEvent(http, false), [
      "req id=7 proxy=out src=127.125.200.9:40000 dst=127.0.0.5:9080 tls=true :method=GET :authority=reviews:9080 :path=/reviews/0",
      "rsp id=7 proxy=out src=127.125.200.9:40000 dst=127.0.0.5:9080 tls=true :status=503 grpc-status=14 latency=12ms bytes=0/178 flags=UF",
    ]);
    assert.deepEqual(formatTapEvent(http, true), [
      "req id=7 proxy=out src=127.125.200.9:40000 dst=127.0.0.5:9080 tls=true src_id=spiffe://cluster.local/ns/default/sa/pp src_workload=- :method=GET :authority=reviews:9080 :path=/reviews/0",
      "rsp id=7 proxy=out src=127.125.200.9:40000 dst=127.0.0.5:9080 tls=true dst_id=spiffe://cluster.local/ns/default/sa/reviews dst_workload=default/reviews-v1 cluster=outbound|9080||reviews.default.svc.cluster.local :status=503 grpc-status=14 latency=12ms bytes=0/178 flags=UF route=default details=via_upstream",
    ]);
    const tcp = { id: 8, ...tapRecord(inboundTcpInfo({ upstreamHost: "", durationMs: 40 })) };
    assert.deepEqual(formatTapEvent(tcp, false), ["tcp id=8 proxy=in src=127.125.200.9:40000 dst=- tls=false sni=- duration=40ms bytes=5/5 flags=-"]);
  });

  it("the tap URL carries the filters", () => {
    assert.equal(tapUrl("http://127.0.0.1:15000", { path: "/a b", method: "GET", status: "5xx" }), "http://127.0.0.1:15000/tsmesh/tap?path=%2Fa+b&method=GET&status=5xx");
    assert.equal(tapUrl("http://127.0.0.1:15000/", {}), "http://127.0.0.1:15000/tsmesh/tap");
  });
});

describe("tsmesh tap against a running proxy", () => {
  let proxy: ProxyServer;
  let admin: AdminServer;
  let base = "";

  before(async () => {
    proxy = new ProxyServer({ node: { id: "tap-cli" }, staticResources: { listeners: [], clusters: [] }, log: () => {} });
    await proxy.start();
    admin = new AdminServer(proxy, { nodeId: "tap-cli", onQuit: () => {} });
    base = `http://${IP}:${await admin.listen(IP, 0)}`;
  });
  after(async () => {
    admin.close();
    await proxy.close();
  });

  it("prints the requests that match, then ends with exit 0 when stopped", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const stop = new AbortController();
    const code = runTap({ workload: "productpage-v1", config: [], admin: base, path: "/reviews", output: "text" }, (l) => out.push(l), (l) => err.push(l), stop.signal);
    await eventually("the tapper connected", () => proxy.streamSinks.active);
    proxy.streamSinks.http(inboundHttpInfo({ path: "/ratings/0" }));
    proxy.streamSinks.http(inboundHttpInfo({ path: "/reviews/0" }));
    await eventually("two lines", () => out.length >= 2);
    stop.abort();
    assert.equal(await code, 0);
    assert.deepEqual(out.map((l) => l.slice(0, 3)), ["req", "rsp"]);
    assert.match(out[0], /:path=\/reviews\/0$/);
    assert.deepEqual(err, []);
    await eventually("the proxy forgot the tapper", () => !proxy.streamSinks.active);
  });

  it("refused filters and a missing workload end at once with the reason", async () => {
    const err: string[] = [];
    assert.equal(await runTap({ workload: "w", config: [], admin: base, status: "9xx", output: "text" }, () => {}, (l) => err.push(l)), 1);
    assert.match(err[0], /refused the tap \(HTTP 400\): tap: status "9xx"/);
    const examples = join(packageRoot(), "examples/bookinfo");
    assert.equal(await runTap({ workload: "nope", config: [examples], output: "text" }, () => {}, (l) => err.push(l)), 2);
    assert.match(err[1], /no WorkloadEntry "nope"/);
  });

  it("the real command: -o json lines as the proxy sent them; SIGINT ends it with exit 0", async () => {
    const child = spawn(process.execPath, [bin, "tap", "reviews-v1", "--admin", base, "--method", "POST", "-o", "json"]);
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    const exit = new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    try {
      await eventually("the command tapping", () => proxy.streamSinks.active, 20_000);
      proxy.streamSinks.http(inboundHttpInfo({ method: "GET", path: "/get" }));
      proxy.streamSinks.http(inboundHttpInfo({ method: "POST", path: "/post" }));
      await eventually("a JSON line", () => stdout.includes("\n"), 20_000);
      child.kill("SIGINT");
      assert.equal(await exit, 0, stderr);
      const lines = stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string; path: string; method: string });
      assert.deepEqual(lines.map((l) => [l.type, l.method, l.path]), [["http", "POST", "/post"]]);
      assert.equal(stderr, "");
      await eventually("the proxy forgot the tapper", () => !proxy.streamSinks.active);
    } finally {
      child.kill("SIGKILL");
    }
  });
});

describe("tsmesh tap: the proxy goes away", () => {
  it("exits 1 saying so", async () => {
    const proxy = new ProxyServer({ node: { id: "tap-gone" }, staticResources: { listeners: [], clusters: [] }, log: () => {} });
    await proxy.start();
    const admin = new AdminServer(proxy, { nodeId: "tap-gone", onQuit: () => {} });
    try {
      const base = `http://${IP}:${await admin.listen(IP, 0)}`;
      const err: string[] = [];
      const code = runTap({ workload: "details-v1", config: [], admin: base, output: "wide" }, () => {}, (l) => err.push(l));
      await eventually("tapping", () => proxy.streamSinks.active);
      admin.close();
      assert.equal(await code, 1);
      assert.match(err.join("\n"), /details-v1's proxy \(http:\/\/127\.125\.201\.1:\d+\) (went away|closed the stream)/);
      // Nothing answers any more: the next tap says the admin did not answer.
      assert.equal(await runTap({ workload: "details-v1", config: [], admin: base, output: "text" }, () => {}, (l) => err.push(l)), 1);
      assert.match(err.at(-1)!, /did not answer .*is the mesh running\?/);
    } finally {
      admin.close();
      await proxy.close();
    }
  });
});
