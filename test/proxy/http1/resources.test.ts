// Slow clients and huge bodies against a real `tsmesh proxy` process (its memory is measured from
// /proc, apart from this test's own): a head trickled a byte at a time, a client that never reads a
// 64 MB response, and 128 MB streamed each way. Asserted: every byte arrives (and only once), the
// proxy's peak RSS stays far below the body size (nothing buffers a whole body: flow control reaches
// the far end — the backend stops writing while the client does not read), and other clients are
// served meanwhile. Bounds are generous; nothing here depends on speed.
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { packageRoot } from "../../../src/core/paths.js";
import { eventually } from "../../e2e/helpers.js";

const PROXY_IP = "127.0.144.1";
const BACKEND_IP = "127.0.144.2";
const PORT = 8001;
const MB = 1024 * 1024;
const bin = join(packageRoot(), "dist/src/cli/bin.js");

const BOOTSTRAP = {
  static_resources: {
    listeners: [
      {
        name: "big",
        address: { socket_address: { address: PROXY_IP, port_value: PORT } },
        filter_chains: [
          {
            filters: [
              {
                name: "envoy.filters.network.http_connection_manager",
                typed_config: {
                  "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                  stat_prefix: "big",
                  http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
                  route_config: { name: "r", virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "backend", timeout: "0s" } }] }] },
                },
              },
            ],
          },
        ],
      },
    ],
    clusters: [
      {
        name: "backend",
        type: "STATIC",
        connect_timeout: "1s",
        load_assignment: { cluster_name: "backend", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: BACKEND_IP, port_value: 8080 } } } }] }] },
      },
    ],
  },
};

function procStatus(pid: number, field: "VmRSS" | "VmHWM"): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

/** The backend: counts uploaded bytes, streams downloads under backpressure, reports what it wrote. */
class BigBackend {
  uploaded = 0;
  written = 0;
  private readonly server: http.Server;

  constructor() {
    this.server = http.createServer((req, res) => {
      if (req.url === "/upload") {
        let n = 0;
        req.on("data", (c: Buffer) => (n += c.length));
        req.on("end", () => {
          this.uploaded = n;
          res.end(String(n));
        });
        return;
      }
      const m = /^\/download\/(\d+)$/.exec(req.url ?? "");
      if (m) {
        const total = Number(m[1]);
        this.written = 0;
        const chunk = Buffer.alloc(64 * 1024, "z");
        res.writeHead(200, { "content-length": String(total) });
        const pump = () => {
          while (this.written < total) {
            const c = total - this.written >= chunk.length ? chunk : chunk.subarray(0, total - this.written);
            this.written += c.length;
            if (!res.write(c)) return void res.once("drain", pump);
          }
          res.end();
        };
        pump();
        return;
      }
      req.resume();
      res.end("ok");
    });
  }

  listen(): Promise<void> {
    return new Promise((r) => this.server.listen(8080, BACKEND_IP, () => r()));
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

function get(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: PROXY_IP, port: PORT, path, agent: false }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
  });
}

describe("slow clients and huge bodies (a proxy process, its memory measured)", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-resources-"));
  const backend = new BigBackend();
  let child: ChildProcessWithoutNullStreams;
  let baseline = 0;

  before(async () => {
    await backend.listen();
    writeFileSync(join(dir, "bootstrap.json"), JSON.stringify(BOOTSTRAP));
    child = spawn(process.execPath, [bin, "proxy", "router", "--bootstrap", join(dir, "bootstrap.json"), "--ip", PROXY_IP, "--admin-port", "0", "--health-port", "0"]);
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    await eventually("proxy serving", async () => (await get("/ok").catch(() => ({ status: 0, body: "" }))).status === 200, 20_000);
    for (let i = 0; i < 50; i++) await get("/ok");
    baseline = procStatus(child.pid!, "VmRSS");
    void out;
  });
  after(async () => {
    if (child.exitCode === null) child.kill("SIGKILL");
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function peakGrowth(): number {
    return procStatus(child.pid!, "VmHWM") - baseline;
  }

  it("a head trickled one byte per write is served, and others are served meanwhile", async () => {
    const head = `GET /ok HTTP/1.1\r\nHost: x\r\nX-Pad: ${"p".repeat(4000)}\r\n\r\n`;
    const s = net.connect(PORT, PROXY_IP);
    s.setNoDelay(true);
    await new Promise((r) => s.once("connect", r));
    let got = "";
    s.on("data", (c: Buffer) => (got += c.toString("latin1")));
    for (let i = 0; i < head.length; i++) {
      s.write(head[i]);
      if (i % 200 === 0) {
        await new Promise((r) => setTimeout(r, 1));
        if (i === 2000) assert.equal((await get("/ok")).body, "ok", "another client is served mid-trickle");
      }
    }
    await eventually("response", () => /\r\n\r\nok$/.test(got));
    s.destroy();
  });

  it("a client that never reads a 64 MB response holds the backend back; the proxy buffers a bounded amount", async (t) => {
    const total = 64 * MB;
    const s = net.connect(PORT, PROXY_IP);
    await new Promise((r) => s.once("connect", r));
    s.pause(); // never read
    s.write(`GET /download/${total} HTTP/1.1\r\nHost: x\r\n\r\n`);
    // The backend writes until the chain of buffers (kernel, proxy, kernel) is full, then stalls.
    let last = -1;
    await eventually("backend stalled", async () => {
      await new Promise((r) => setTimeout(r, 300));
      const w = backend.written;
      const stalled = w === last && w > 0;
      last = w;
      return stalled;
    }, 20_000);
    assert.ok(backend.written < total / 2, `the backend wrote ${(backend.written / MB).toFixed(1)} MB of 64 before stalling`);
    assert.ok(peakGrowth() < 48 * MB, `proxy peak RSS grew ${(peakGrowth() / MB).toFixed(1)} MB`);
    t.diagnostic(`backend stalled after ${(backend.written / MB).toFixed(1)} MB; proxy peak RSS +${(peakGrowth() / MB).toFixed(1)} MB`);
    assert.equal((await get("/ok")).body, "ok", "others are served");
    s.destroy();
  });

  it("streams 128 MB up and 128 MB down without holding them", async (t) => {
    const total = 128 * MB;
    const chunk = Buffer.alloc(256 * 1024, "u");
    const up = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: PROXY_IP, port: PORT, path: "/upload", method: "POST", agent: false, headers: { "content-length": String(total) } }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve(body));
      });
      req.on("error", reject);
      let sent = 0;
      const pump = () => {
        while (sent < total) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once("drain", pump);
        }
        req.end();
      };
      pump();
    });
    assert.equal(Number(up), total);
    assert.equal(backend.uploaded, total);
    const down = await new Promise<number>((resolve, reject) => {
      http.get({ host: PROXY_IP, port: PORT, path: `/download/${total}`, agent: false }, (res) => {
        let n = 0;
        res.on("data", (c: Buffer) => (n += c.length));
        res.on("end", () => resolve(n));
      }).on("error", reject);
    });
    assert.equal(down, total);
    assert.ok(peakGrowth() < 64 * MB, `proxy peak RSS grew ${(peakGrowth() / MB).toFixed(1)} MB for 256 MB through it`);
    t.diagnostic(`proxy peak RSS +${(peakGrowth() / MB).toFixed(1)} MB over its idle RSS for 256 MB through it`);
  });
});
