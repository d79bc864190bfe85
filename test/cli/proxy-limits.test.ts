// `tsmesh proxy --concurrency 2`: circuit breakers, retry overflow and outlier detection hold for
// the proxy as a whole (the primary arbitrates; docs/design/concurrency-limits.md), through the CLI
// with a static bootstrap, real worker processes and real backends on 127.0.160.x. Which worker
// serves a client connection is read from /proc (the worker process holding the socket).
import assert from "node:assert/strict";
import * as http from "node:http";
import type { Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { eventually } from "../helpers/eventually.js";
import { request } from "../proxy/helpers.js";
import { type Answer, Client, clientsOnEachWorker as clientsOnEachWorkerOf, startWorkerProxy, type WorkerProxy } from "../helpers/worker-clients.js";

const PROXY_IP = "127.0.160.1";
const PORT = 10000;
const CB_IP = "127.0.160.11";
const HELD_IP = "127.0.160.12";
const RETRY_IP = "127.0.160.13";
const OD_IPS = ["127.0.160.21", "127.0.160.22", "127.0.160.23"];

const route = (prefix: string, cluster: string, extra = "") => `
              - match: { prefix: "${prefix}" }
                route: { cluster: ${cluster}${extra} }`;

const staticCluster = (name: string, ips: string[], extra: string) => `
  - name: ${name}
    type: STATIC
    connect_timeout: 1s
${extra}
    load_assignment:
      cluster_name: ${name}
      endpoints:
      - lb_endpoints:${ips.map((ip) => `
        - endpoint: { address: { socket_address: { address: ${ip}, port_value: 8080 } } }`).join("")}`;

const BOOTSTRAP = `
static_resources:
  listeners:
  - name: listener_0
    address:
      socket_address: { address: 0.0.0.0, port_value: ${PORT} }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress_http
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:${route("/cb/", "limited")}${route("/held/", "held")}${route("/retry/", "retried", ", retry_policy: { retry_on: 5xx, num_retries: 1, retry_back_off: { base_interval: 10s, max_interval: 10s } }")}${route("/od/", "outliers")}
  clusters:${staticCluster(
    "limited",
    [CB_IP],
    `    circuit_breakers:
      thresholds:
      - { max_connections: 1, max_pending_requests: 3, max_requests: 1, track_remaining: true }`,
  )}${staticCluster(
    "held",
    [HELD_IP],
    `    circuit_breakers:
      thresholds:
      - { max_requests: 1, track_remaining: true }`,
  )}${staticCluster(
    "retried",
    [RETRY_IP],
    `    circuit_breakers:
      thresholds:
      - { max_retries: 1, track_remaining: true }`,
  )}${staticCluster(
    "outliers",
    OD_IPS,
    `    outlier_detection:
      consecutive_5xx: 2
      max_ejection_percent: 34
      interval: 60s
      base_ejection_time: 60s`,
  )}
`;

/**
 * A backend that counts what it sees at once: connections (from accept to the client's FIN) and
 * requests (from the head to the end of the answer), with the highest of each.
 */
class CountingBackend {
  private readonly server: http.Server;
  connections = 0;
  maxConnections = 0;
  active = 0;
  maxActive = 0;
  /** Requests answered below 500, and in all. */
  served = 0;
  answered = 0;
  private readonly held: http.ServerResponse[] = [];
  private readonly paired: http.ServerResponse[] = [];

  private constructor(private readonly answer: (req: http.IncomingMessage, res: http.ServerResponse, b: CountingBackend) => void) {
    this.server = http.createServer((req, res) => {
      this.active++;
      this.maxActive = Math.max(this.maxActive, this.active);
      let done = false;
      const end = () => {
        if (done) return;
        done = true;
        this.active--;
      };
      res.once("finish", end);
      res.once("close", end);
      req.resume();
      req.once("end", () => this.answer(req, res, this));
    });
    this.server.keepAliveTimeout = 60_000;
    this.server.on("connection", (s: Socket) => {
      this.connections++;
      this.maxConnections = Math.max(this.maxConnections, this.connections);
      let gone = false;
      const down = () => {
        if (gone) return;
        gone = true;
        this.connections--;
      };
      // The proxy's FIN is where it let go of the connection.
      s.once("end", down);
      s.once("close", down);
    });
  }

  static async start(ip: string, answer: (req: http.IncomingMessage, res: http.ServerResponse, b: CountingBackend) => void): Promise<CountingBackend> {
    const b = new CountingBackend(answer);
    await new Promise<void>((resolve, reject) => {
      b.server.once("error", reject);
      b.server.listen(8080, ip, () => resolve());
    });
    return b;
  }

  reply(res: http.ServerResponse, status: number, body = "ok"): void {
    if (status < 500) this.served++;
    this.answered++;
    res.writeHead(status, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
    res.end(body);
  }

  hold(res: http.ServerResponse): void {
    this.held.push(res);
  }

  get holding(): number {
    return this.held.filter((r) => !r.destroyed && !r.writableEnded).length;
  }

  releaseAll(): void {
    for (const r of this.held.splice(0)) if (!r.destroyed) this.reply(r, 200);
  }

  /** Answers `status` to both once two requests are here (their tries end at the same moment). */
  pair(res: http.ServerResponse, status: number): void {
    this.paired.push(res);
    if (this.paired.length < 2) return;
    for (const r of this.paired.splice(0)) this.reply(r, status);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

describe("tsmesh proxy --concurrency 2: limits hold for the proxy as a whole", { timeout: 120_000 }, () => {
  let proxy: WorkerProxy | undefined;
  let admin = "";
  let workers: readonly number[] = [];
  const backends: CountingBackend[] = [];
  let cb: CountingBackend;
  let held: CountingBackend;
  let retried: CountingBackend;
  let od: CountingBackend[];
  const clients: Client[] = [];

  async function stats(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const line of (await request(`${admin}/stats`)).body.split("\n")) {
      const i = line.lastIndexOf(": ");
      if (i > 0) out.set(line.slice(0, i), Number(line.slice(i + 2)));
    }
    return out;
  }

  const clientsOnEachWorker = (n: number) => clientsOnEachWorkerOf(workers, PROXY_IP, PORT, n, clients);

  before(async () => {
    cb = await CountingBackend.start(CB_IP, (req, res, b) => setTimeout(() => b.reply(res, 200), 20));
    held = await CountingBackend.start(HELD_IP, (req, res, b) => (req.url?.startsWith("/held/hang") ? b.hold(res) : b.reply(res, 200)));
    retried = await CountingBackend.start(RETRY_IP, (req, res, b) => (req.headers["x-envoy-attempt-count"] === "2" ? b.reply(res, 503) : b.pair(res, 503)));
    od = [];
    for (const [i, ip] of OD_IPS.entries()) od.push(await CountingBackend.start(ip, (_req, res, b) => b.reply(res, i < 2 ? 503 : 200)));
    backends.push(cb, held, retried, ...od);
    proxy = await startWorkerProxy(BOOTSTRAP, PROXY_IP);
    ({ admin, workers } = proxy);
    assert.equal(workers.length, 2);
  });

  after(async () => {
    for (const c of clients) c.close();
    await proxy?.stop();
    for (const b of backends) b.releaseAll();
    for (const b of backends) await b.close();
  });

  it("max_connections 1 / max_requests 1: the backend never sees two at once; overflow is 503 UO, counted proxy-wide", async () => {
    const lists = await clientsOnEachWorker(5);
    const all = lists.flat();
    const before = await stats();
    const answers: Answer[] = [];
    await Promise.all(
      all.map(async (c) => {
        for (let i = 0; i < 6; i++) answers.push(await c.get(`/cb/${i}`));
      }),
    );
    assert.equal(answers.length, 60);
    const ok = answers.filter((a) => a.status === 200).length;
    const overflow = answers.filter((a) => a.status === 503);
    assert.equal(ok + overflow.length, 60, `only 200 and 503: ${JSON.stringify(answers.filter((a) => a.status !== 200 && a.status !== 503))}; stderr: ${proxy?.stderr()}`);
    for (const a of overflow) assert.match(a.body, /overflow/);
    assert.ok(ok > 0 && overflow.length > 0, `some through, some overflow: ${ok} / ${overflow.length}`);
    assert.equal(cb.maxConnections, 1, "connections the backend saw at once");
    assert.equal(cb.maxActive, 1, "requests the backend saw at once");
    assert.equal(cb.served, ok);
    const after = await stats();
    const delta = (n: string) => (after.get(`cluster.limited.${n}`) ?? 0) - (before.get(`cluster.limited.${n}`) ?? 0);
    assert.equal(delta("upstream_rq_pending_overflow"), overflow.length, "every 503 is a pending overflow, counted once across workers");
    assert.equal(delta("upstream_rq_total"), ok);
    assert.ok(delta("upstream_cx_overflow") > 0);
    assert.ok(delta("upstream_rq_pending_total") > 0, "requests waited in the proxy-wide pending queue");
    // Gauges are the proxy's: nothing active now, so nothing open and everything remaining.
    assert.equal(after.get("cluster.limited.circuit_breakers.default.rq_open"), 0);
    assert.equal(after.get("cluster.limited.circuit_breakers.default.remaining_rq"), 1);
    assert.equal(after.get("cluster.limited.circuit_breakers.default.remaining_pending"), 3);
    assert.equal(after.get("cluster.limited.upstream_rq_pending_active"), 0);
  });

  it("max_retries 1: a retry held in one worker's backoff makes the other worker's retry overflow", async () => {
    const [[a], [b]] = await clientsOnEachWorker(1);
    const before = await stats();
    const delta = (s: Map<string, number>, n: string) => (s.get(`cluster.retried.${n}`) ?? 0) - (before.get(`cluster.retried.${n}`) ?? 0);
    const ra = a.get("/retry/x", 30_000).catch((e: Error) => ({ status: 0, body: e.message }));
    const rb = b.get("/retry/y", 30_000).catch((e: Error) => ({ status: 0, body: e.message }));
    // Both first tries fail at the same moment; one retry is admitted (its backoff is up to 10 s), the other overflows.
    const s = await eventually("both retry decisions", async () => {
      const now = await stats();
      return delta(now, "upstream_rq_retry") + delta(now, "upstream_rq_retry_overflow") >= 2 ? now : undefined;
    });
    assert.equal(delta(s, "upstream_rq_retry"), 1, "one retry proxy-wide");
    assert.equal(delta(s, "upstream_rq_retry_overflow"), 1);
    assert.equal(s.get("cluster.retried.circuit_breakers.default.rq_retry_open"), 1);
    assert.equal(s.get("cluster.retried.circuit_breakers.default.remaining_retries"), 0);
    a.abort();
    b.abort();
    await Promise.all([ra, rb]);
    // The retry in backoff went back when its client left.
    await eventually("the retry returned", async () => (await stats()).get("cluster.retried.circuit_breakers.default.rq_retry_open") === 0);
  });

  it("outlier detection: consecutive 5xx from both workers eject a host once; max_ejection_percent holds proxy-wide", async () => {
    const [as, bs] = await clientsOnEachWorker(1);
    const [a, b] = [as[0], bs[0]];
    for (let i = 0; i < 6; i++) {
      await a.get(`/od/a${i}`);
      await b.get(`/od/b${i}`);
    }
    const s = await eventually("one ejection", async () => {
      const now = await stats();
      return now.get("cluster.outliers.outlier_detection.ejections_active") === 1 ? now : undefined;
    });
    assert.equal(s.get("cluster.outliers.outlier_detection.ejections_enforced_total"), 1, "the host is ejected once, not once per worker");
    assert.equal(s.get("cluster.outliers.outlier_detection.ejections_enforced_consecutive_5xx"), 1);
    assert.ok((s.get("cluster.outliers.outlier_detection.ejections_overflow") ?? 0) >= 1, "the other failing host stays: 2 of 3 ejected would pass max_ejection_percent 34");
    const clusters = (await request(`${admin}/clusters`)).body;
    const flagged = OD_IPS.filter((ip) => new RegExp(`^outliers::${ip.replace(/\./g, "\\.")}:8080::health_flags::/failed_outlier_check$`, "m").test(clusters));
    assert.equal(flagged.length, 1, clusters);
    // Both workers apply the ejection: the ejected host gets nothing more.
    const ejected = od[OD_IPS.indexOf(flagged[0])];
    const seen = ejected.answered;
    for (let i = 0; i < 6; i++) {
      await a.get(`/od/c${i}`);
      await b.get(`/od/d${i}`);
    }
    assert.equal(ejected.answered, seen, "no request reached the ejected host from either worker");
  });

  it("worker death: the lease a dead worker held goes back; until then the other worker overflows", async () => {
    const [[a], [b]] = await clientsOnEachWorker(1);
    const hanging = a.get("/held/hang", 30_000).catch(() => undefined);
    await eventually("the backend holds a's request", () => held.holding === 1);
    const s = await stats();
    assert.equal(s.get("cluster.held.circuit_breakers.default.rq_open"), 1, "proxy-wide: max_requests 1 is in use");
    assert.equal(s.get("cluster.held.circuit_breakers.default.remaining_rq"), 0);
    assert.equal(s.get("cluster.held.upstream_rq_active"), 1);
    const r = await b.get("/held/quick");
    assert.equal(r.status, 503, "the other worker's request overflows: max_requests holds across workers");
    assert.match(r.body, /overflow/);
    process.kill(a.worker!, "SIGKILL");
    await hanging;
    await eventually("a new worker", async () => {
      const now = (JSON.parse((await request(`${admin}/server_info`)).body) as { workers: number[] }).workers;
      return now.length === 2 && !now.includes(a.worker!) ? now : undefined;
    });
    workers = (JSON.parse((await request(`${admin}/server_info`)).body) as { workers: number[] }).workers;
    // The dead worker's unit is free again: a request on any worker goes through.
    await eventually("requests go through again", async () => (await request(`http://${PROXY_IP}:${PORT}/held/quick`)).status === 200);
    assert.equal((await request(`http://${PROXY_IP}:${PORT}/held/quick`)).status, 200);
    assert.equal((await stats()).get("cluster.held.circuit_breakers.default.rq_open"), 0);
  });
});
