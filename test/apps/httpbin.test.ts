// httpbin (go-httpbin compatible) on a real loopback socket, and the example folder that runs it.
import assert from "node:assert/strict";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { httpbin } from "../../src/apps/httpbin/server.js";
import { canonicalHeaderKey } from "../../src/apps/httpbin/request.js";
import { chooseStatus, parseDelay } from "../../src/apps/httpbin/values.js";
import type { RunningApp } from "../../src/apps/types.js";
import { analyze } from "../../src/analysis/analyze.js";
import { validatePaths } from "../../src/cli/validate.js";
import { packageRoot } from "../../src/core/paths.js";
import { planMesh } from "../../src/local/plan.js";
import type { Resource } from "../../src/api/resource.js";

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

function call(address: string, method: string, path: string, opts: { headers?: Record<string, string | string[]>; body?: string | Buffer } = {}): Promise<Reply> {
  const [host, port] = address.split(":");
  return new Promise((resolve, reject) => {
    // An explicit Content-Length: Node sends DELETE bodies without one otherwise.
    const headers = opts.body === undefined ? opts.headers : { ...opts.headers, "Content-Length": String(Buffer.byteLength(opts.body)) };
    const req = httpRequest({ host, port: Number(port), method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString("utf8") });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

function json(r: Reply): Record<string, unknown> {
  assert.match(String(r.headers["content-type"]), /^application\/json/);
  return JSON.parse(r.text) as Record<string, unknown>;
}

/** Handles of the kinds a leaked server, socket or timer leaves. */
function handles(): string {
  const out: Record<string, number> = {};
  for (const k of process.getActiveResourcesInfo()) if (["Timeout", "TCPServerWrap", "TCPSocketWrap"].includes(k)) out[k] = (out[k] ?? 0) + 1;
  return JSON.stringify(Object.entries(out).sort());
}

function timers(): number {
  return process.getActiveResourcesInfo().filter((k) => k === "Timeout").length;
}

/** The handles once earlier tests' closing sockets are gone (two equal readings in a row). */
async function settledHandles(): Promise<string> {
  let last = handles();
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 20));
    const now = handles();
    if (now === last) return now;
    last = now;
  }
  return last;
}

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("httpbin", () => {
  let app: RunningApp;
  let addr: string;
  const logs: string[] = [];

  before(async () => {
    app = await httpbin({ argv: [], env: { HOST: "127.0.0.1", PORT: "0", HTTPBIN_VERSION: "v2", HTTPBIN_COLOR: "blue", OTHER: "x" }, log: (l) => logs.push(l) });
    addr = app.addresses[0];
  });
  after(() => app.close());

  test("listens on HOST:PORT and logs one line per request (status, method, path)", async () => {
    assert.match(addr, /^127\.0\.0\.1:\d+$/);
    const r = await call(addr, "GET", "/status/204?x=1");
    assert.equal(r.status, 204);
    await waitFor(() => logs.some((l) => /^204 GET \/status\/204\?x=1 \d+\.\dms$/.test(l)));
  });

  test("/status/N: the code, go-httpbin's special bodies, 400 for nonsense", async () => {
    for (const code of [200, 201, 400, 404, 500, 503]) assert.equal((await call(addr, "GET", `/status/${code}`)).status, code);
    const teapot = await call(addr, "GET", "/status/418");
    assert.equal(teapot.status, 418);
    assert.equal(teapot.text, "I'm a teapot!");
    assert.equal(teapot.headers["content-length"], "13");
    assert.equal(teapot.headers["x-more-info"], "http://tools.ietf.org/html/rfc2324");
    const unauthorized = await call(addr, "GET", "/status/401");
    assert.equal(unauthorized.headers["www-authenticate"], 'Basic realm="Fake Realm"');
    const redirect = await call(addr, "GET", "/status/302");
    assert.equal(redirect.headers.location, "/redirect/1");
    assert.equal((await call(addr, "POST", "/status/500")).status, 500, "any method");
    const bad = await call(addr, "GET", "/status/abc");
    assert.equal(bad.status, 400);
    assert.equal(json(bad).status_code, 400);
    assert.equal(json(bad).error, "Bad Request");
    assert.equal((await call(addr, "GET", "/status/600")).status, 400);
    assert.equal((await call(addr, "GET", "/status/200/extra")).status, 404);
  });

  test("/status/A,B and weighted A:w,B:w choose among the listed codes", async () => {
    const seen = new Set<number>();
    for (let i = 0; i < 40; i++) seen.add((await call(addr, "GET", "/status/200,503")).status);
    assert.deepEqual([...seen].sort(), [200, 503]);
    for (let i = 0; i < 10; i++) assert.equal((await call(addr, "GET", "/status/200:0,503:1")).status, 503);
    assert.equal((await call(addr, "GET", "/status/200:x,503")).status, 400);
    assert.equal((await call(addr, "GET", "/status/200,nope")).status, 400);
    // The choice itself: cumulative weights, as go-httpbin's weightedRandomChoice.
    assert.equal(chooseStatus("200:0.9,503:0.1", () => 0.89), 200);
    assert.equal(chooseStatus("200:0.9,503:0.1", () => 0.95), 503);
    assert.equal(chooseStatus("200,500,503", () => 0.5), 500);
  });

  test("/headers echoes request headers as arrays under Go's canonical names", async () => {
    const r = await call(addr, "GET", "/headers", { headers: { "x-b3-sampled": "1", "X-REQUEST-ID": "abc", "end-user": "jason", "x-multi": ["a", "b"] } });
    assert.equal(r.status, 200);
    const headers = json(r).headers as Record<string, string[]>;
    assert.deepEqual(headers["X-B3-Sampled"], ["1"]);
    assert.deepEqual(headers["X-Request-Id"], ["abc"]);
    assert.deepEqual(headers["End-User"], ["jason"]);
    assert.deepEqual(headers["X-Multi"], ["a", "b"]);
    assert.deepEqual(headers.Host, [addr]);
    assert.deepEqual(Object.keys(headers), Object.keys(headers).sort(), "sorted like Go's JSON maps");
    assert.match(r.text, /^\{\n {2}"headers": \{\n {4}"/, "indented by two spaces");
    assert.equal(canonicalHeaderKey("x-forwarded-client-cert"), "X-Forwarded-Client-Cert");
    assert.equal(canonicalHeaderKey("traceparent"), "Traceparent");
    assert.equal(canonicalHeaderKey("bad header"), "bad header");
  });

  test("/get: args, headers, method, origin, url; other methods are 405", async () => {
    const r = await call(addr, "GET", "/get?a=1&a=2&b=x+y", { headers: { "User-Agent": "curl/8.0" } });
    const body = json(r);
    assert.deepEqual(body.args, { a: ["1", "2"], b: ["x y"] });
    assert.equal(body.method, "GET");
    assert.equal(body.origin, "127.0.0.1");
    assert.equal(body.url, `http://${addr}/get?a=1&a=2&b=x+y`);
    assert.deepEqual((body.headers as Record<string, string[]>)["User-Agent"], ["curl/8.0"]);
    assert.equal(r.headers["access-control-allow-origin"], "*");
    const head = await call(addr, "HEAD", "/get");
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    const post = await call(addr, "POST", "/get");
    assert.equal(post.status, 405);
    assert.equal(json(post).error, "Method Not Allowed");
    const https = json(await call(addr, "GET", "/get", { headers: { "X-Forwarded-Proto": "https" } }));
    assert.equal(https.url, `https://${addr}/get`);
  });

  test("/post, /put, /patch, /delete, /anything echo JSON, form and text bodies", async () => {
    const payload = { user: "jason", stars: [1, 2], nested: { ok: true } };
    const r = await call(addr, "POST", "/post?q=1", { headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) });
    assert.equal(r.status, 200);
    const body = json(r);
    assert.deepEqual(body.json, payload);
    assert.equal(body.data, JSON.stringify(payload));
    assert.deepEqual(body.args, { q: ["1"] });
    assert.deepEqual(body.form, {});
    assert.deepEqual(body.files, {});
    assert.equal(body.method, "POST");

    const form = json(await call(addr, "PUT", "/put", { headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "name=a+b&name=c&x=%2F" }));
    assert.deepEqual(form.form, { name: ["a b", "c"], x: ["/"] });
    assert.equal(form.json, null);
    assert.equal(form.method, "PUT");

    const text = json(await call(addr, "PATCH", "/patch", { headers: { "Content-Type": "text/plain" }, body: "hello" }));
    assert.equal(text.data, "hello");
    const binary = json(await call(addr, "DELETE", "/delete", { headers: { "Content-Type": "application/x-thing" }, body: Buffer.from([0xfb, 0xff]) }));
    assert.equal(binary.data, "data:application/x-thing;base64,-_8=");
    const empty = json(await call(addr, "DELETE", "/delete"));
    assert.equal(empty.data, "");
    assert.equal(empty.json, null);

    const badJson = await call(addr, "POST", "/post", { headers: { "Content-Type": "application/json" }, body: "{nope" });
    assert.equal(badJson.status, 400);
    assert.match(String(json(badJson).detail), /error parsing request body/);
    assert.equal((await call(addr, "GET", "/post")).status, 405);

    for (const method of ["GET", "POST", "PUT", "DELETE", "PATCH"]) {
      const any = json(await call(addr, method, "/anything/some/path?k=v", { headers: { "Content-Type": "application/json" }, body: '{"a":1}' }));
      assert.equal(any.method, method);
      assert.deepEqual(any.json, { a: 1 });
      assert.equal(any.url, `http://${addr}/anything/some/path?k=v`);
    }
  });

  test("/ip, /user-agent, /uuid, /hostname, /env, version header", async () => {
    const ip = await call(addr, "GET", "/ip");
    assert.deepEqual(json(ip), { origin: "127.0.0.1" });
    assert.equal(ip.headers["x-httpbin-version"], "v2");
    assert.deepEqual(json(await call(addr, "GET", "/ip", { headers: { "X-Forwarded-For": "10.0.0.7, 127.0.0.1" } })), { origin: "10.0.0.7" });
    assert.deepEqual(json(await call(addr, "GET", "/user-agent", { headers: { "User-Agent": "fortio" } })), { "user-agent": "fortio" });
    const uuid = json(await call(addr, "GET", "/uuid")).uuid;
    assert.match(String(uuid), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.deepEqual(json(await call(addr, "GET", "/hostname")), { hostname: "go-httpbin" });
    assert.deepEqual(json(await call(addr, "GET", "/env")), { env: { HTTPBIN_COLOR: "blue", HTTPBIN_VERSION: "v2" } });
  });

  test("/response-headers, /bytes/N, /stream/N, /unstable, /, OPTIONS, 404", async () => {
    const rh = await call(addr, "GET", "/response-headers?X-Test=1&X-Test=2&Server=httpbin");
    assert.equal(rh.status, 200);
    assert.equal(rh.headers["x-test"], "1, 2");
    assert.equal(rh.headers.server, "httpbin");
    assert.deepEqual(json(rh), { "Content-Type": ["application/json; charset=utf-8"], Server: ["httpbin"], "X-Test": ["1", "2"] });

    const bytes = await call(addr, "GET", "/bytes/1000?seed=42");
    assert.equal(bytes.status, 200);
    assert.equal(bytes.body.length, 1000);
    assert.equal(bytes.headers["content-type"], "application/octet-stream");
    assert.deepEqual((await call(addr, "GET", "/bytes/1000?seed=42")).body, bytes.body, "same seed, same bytes");
    assert.equal((await call(addr, "GET", "/bytes/0")).body.length, 0);
    assert.equal((await call(addr, "GET", `/bytes/${1024 * 1024 + 1}`)).status, 400);

    const stream = await call(addr, "GET", "/stream/3");
    const lines = stream.text.trimEnd().split("\n").map((l) => JSON.parse(l) as { id: number; url: string });
    assert.deepEqual(lines.map((l) => l.id), [0, 1, 2]);
    assert.equal(stream.headers["transfer-encoding"], "chunked");

    assert.equal((await call(addr, "GET", "/unstable?failure_rate=1")).status, 500);
    assert.equal((await call(addr, "GET", "/unstable?failure_rate=0")).status, 200);
    assert.equal((await call(addr, "GET", "/unstable?failure_rate=2")).status, 400);

    const index = await call(addr, "GET", "/");
    assert.equal(index.status, 200);
    assert.match(String(index.headers["content-type"]), /^text\/html/);
    assert.match(index.text, /\/status\/:code/);

    const options = await call(addr, "OPTIONS", "/get", { headers: { Origin: "http://x.example", "Access-Control-Request-Headers": "x-a" } });
    assert.equal(options.status, 200);
    assert.equal(options.headers["access-control-allow-origin"], "http://x.example");
    assert.equal(options.headers["access-control-allow-headers"], "x-a");

    const missing = await call(addr, "GET", "/nope");
    assert.equal(missing.status, 404);
    assert.deepEqual(json(missing), { status_code: 404, error: "Not Found" });
  });

  test("/delay/N waits N seconds (Go durations and float seconds; at most 10 s)", async () => {
    const t0 = Date.now();
    const r = await call(addr, "GET", "/delay/1");
    const took = Date.now() - t0;
    assert.equal(r.status, 200);
    // The upper bound only tells 1 s from a misread unit (10 s and up), with room for a loaded machine.
    assert.ok(took >= 990 && took < 8000, `took ${took} ms`);
    assert.equal(json(r).url, `http://${addr}/delay/1`);
    assert.match(String(r.headers["server-timing"]), /^initial_delay;dur=1000\.00;desc="initial delay"$/);
    const t1 = Date.now();
    assert.equal((await call(addr, "POST", "/delay/200ms", { headers: { "Content-Type": "application/json" }, body: '{"x":1}' })).status, 200);
    assert.ok(Date.now() - t1 >= 190);
    assert.equal((await call(addr, "GET", "/delay/11")).status, 400);
    assert.equal((await call(addr, "GET", "/delay/-1")).status, 400);
    assert.equal((await call(addr, "GET", "/delay/soon")).status, 400);
    assert.equal(parseDelay("0.5"), 500);
    assert.equal(parseDelay("1m30s"), 90_000);
    assert.equal(parseDelay("1.5s"), 1500);
    assert.equal(parseDelay("10"), 10_000);
    assert.equal(parseDelay("x"), undefined);
  });

  test("a client that leaves during /delay frees its timer (logged as 499)", async () => {
    const baseline = await settledHandles();
    const timersBefore = timers();
    const [host, port] = addr.split(":");
    const req = httpRequest({ host, port: Number(port), path: "/delay/5", agent: false });
    req.on("error", () => {});
    req.end();
    await waitFor(() => timers() > timersBefore);
    req.destroy();
    await waitFor(() => logs.some((l) => l.startsWith("499 GET /delay/5 ")));
    await waitFor(() => handles() === baseline);
  });
});

describe("httpbin close", () => {
  test("close() during a /delay ends promptly and leaves no handles", async () => {
    const baseline = await settledHandles();
    const timersBefore = timers();
    const app = await httpbin({ argv: [], env: { HOST: "127.0.0.1", PORT: "0" }, log: () => {} });
    const [host, port] = app.addresses[0].split(":");
    const errors: Error[] = [];
    const req = httpRequest({ host, port: Number(port), path: "/delay/8", agent: false });
    req.on("error", (e) => errors.push(e));
    req.end();
    await waitFor(() => timers() > timersBefore);
    const t0 = Date.now();
    await app.close();
    assert.ok(Date.now() - t0 < 6000, `close took ${Date.now() - t0} ms, not the 8 s delay`);
    await waitFor(() => errors.length > 0);
    await waitFor(() => handles() === baseline);
    await app.close(); // idempotent
  });

  test("flags as go-httpbin takes them; a port in use rejects", async () => {
    const a = await httpbin({ argv: ["-port", "0", "--max-duration=1s"], env: { HOST: "127.0.0.1", PORT: "1" }, log: () => {} });
    try {
      assert.equal((await call(a.addresses[0], "GET", "/delay/2")).status, 400);
      assert.equal((await call(a.addresses[0], "GET", "/delay/0.1")).status, 200);
      const port = a.addresses[0].split(":")[1];
      await assert.rejects(httpbin({ argv: [], env: { HOST: "127.0.0.1", PORT: port }, log: () => {} }), /EADDRINUSE/);
    } finally {
      await a.close();
    }
    await assert.rejects(httpbin({ argv: ["-bogus", "1"], env: {}, log: () => {} }), /unknown flag/);
  });
});

describe("examples/httpbin-tcp-echo", () => {
  const dir = join(packageRoot(), "examples", "httpbin-tcp-echo");
  const tcpEchoRules = join(packageRoot(), "samples", "tcp-echo", "tcp-echo-all-v1.yaml");

  test("validates and analyzes clean", () => {
    const docs = validatePaths([dir], { ignoreUnknown: false });
    assert.ok(docs.length >= 10, `${docs.length} documents`);
    for (const d of docs) assert.deepEqual(d.diagnostics.filter((x) => x.severity === "error"), [], `${d.file}:${d.line}`);
    const messages = analyze(docs).filter((m) => m.level === "Error" || m.level === "Warning");
    assert.deepEqual(messages, []);
  });

  test("plans the workloads `tsmesh up` runs: apps, the curl client, the gateway", () => {
    // Istio's TCP traffic-shifting rules select the same gateway workload.
    const paths = [dir, tcpEchoRules];
    const resources = validatePaths(paths, { ignoreUnknown: false }).flatMap((d) => (d.resource ? [d.resource] : []));
    const plan = planMesh({
      workloadEntries: resources.filter((r): r is Resource<"WorkloadEntry"> => r.kind === "WorkloadEntry"),
      serviceEntries: resources.filter((r): r is Resource<"ServiceEntry"> => r.kind === "ServiceEntry"),
      gateways: resources.filter((r): r is Resource<"Gateway"> => r.kind === "Gateway"),
    });
    assert.deepEqual(plan.problems, []);
    const byName = new Map(plan.workloads.map((w) => [w.name, w]));
    const gw = byName.get("istio-ingressgateway");
    assert.equal(gw?.role, "router");
    assert.ok(gw.gatewayServers.some((s) => s.gateway === "default/httpbin-gateway"));
    if (paths.length > 1) assert.ok(gw.gatewayServers.some((s) => s.gateway === "default/tcp-echo-gateway" && s.url === "tcp://127.0.1.1:31400"));
    for (const v of ["v1", "v2"]) {
      const h = byName.get(`httpbin-${v}`);
      assert.deepEqual(h?.command, { env: { HTTPBIN_VERSION: v }, argv: ["tsmesh", "app", "httpbin"] });
      assert.deepEqual(h?.ports.map((p) => p.port), [8080]);
    }
    assert.deepEqual(byName.get("tcp-echo-v1")?.command?.argv, ["tsmesh", "app", "tcp-echo", "9000,9001,9002", "one"]);
    assert.deepEqual(byName.get("tcp-echo-v2")?.command?.argv, ["tsmesh", "app", "tcp-echo", "9000,9001,9002", "two"]);
    assert.deepEqual(byName.get("tcp-echo-v2")?.ports.map((p) => p.port), [9000, 9001]);
    const curl = byName.get("curl");
    assert.equal(curl?.role, "sidecar");
    assert.equal(curl?.command, undefined);
    for (const w of plan.workloads) assert.match(w.address, /^127\.0\.\d+\.\d+$/);
  });
});
