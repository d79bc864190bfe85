// HTTP/2 upstreams that break the protocol, frames written by hand (127.0.144.x): a response header
// block nghttp2 refuses (502 UPE, "reset reason: protocol error", as Envoy's router answers a
// stream reset with reason protocol_error), the same after the response started (the downstream
// is reset, UPE on the access log), and a GOAWAY with PROTOCOL_ERROR from the upstream (Envoy: a
// connection termination, 503 UC). Each checks that the next request is served.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { eventually } from "../../helpers/eventually.js";
import { FLAG, frame, FRAME, hpack, settings, settingsAck } from "../h2-frames.js";
import { request } from "../helpers.js";
import { httpListener, prefixRoute, staticCluster } from "../protocol-helpers.js";

const PROXY_IP = "127.0.144.1";
const BACKEND_IP = "127.0.144.2";
const PORT = 8001;

type Mode = "ok" | "bad-header" | "bad-trailers" | "goaway-protocol";

/** An HTTP/2 server on raw frames: answers its requests, in order, as `script` says (then "ok"). */
class ScriptedH2 {
  private readonly server: net.Server;
  private readonly script: Mode[];
  constructor(script: Mode[]) {
    this.script = [...script];
    this.server = net.createServer((s) => this.serve(s));
  }

  listen(port: number): Promise<void> {
    return new Promise((r) => this.server.listen(port, BACKEND_IP, r));
  }

  close(): Promise<void> {
    this.server.close();
    return Promise.resolve();
  }

  private serve(s: net.Socket): void {
    s.on("error", () => {});
    s.write(settings());
    let buf = Buffer.alloc(0);
    let prefaceSeen = false;
    s.on("data", (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (!prefaceSeen) {
        if (buf.length < 24) return;
        buf = buf.subarray(24);
        prefaceSeen = true;
      }
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) return;
        const type = buf[3];
        const flags = buf[4];
        const stream = buf.readUInt32BE(5) & 0x7fffffff;
        const payload = buf.subarray(9, 9 + len);
        buf = buf.subarray(9 + len);
        if (type === FRAME.SETTINGS && (flags & FLAG.ACK) === 0) s.write(settingsAck());
        if (type === FRAME.HEADERS && payload.length > 0) this.answer(s, stream, this.script.shift() ?? "ok");
      }
    });
  }

  private answer(s: net.Socket, stream: number, mode: Mode): void {
    const status200 = hpack.indexed(8);
    if (mode === "ok") {
      s.write(frame(FRAME.HEADERS, FLAG.END_HEADERS, stream, status200));
      s.write(frame(FRAME.DATA, FLAG.END_STREAM, stream, Buffer.from("ok")));
    } else if (mode === "bad-header") {
      // Upper-case field names are malformed in HTTP/2 (RFC 9113 §8.2.1): nghttp2 resets the stream.
      s.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, stream, Buffer.concat([status200, hpack.literal("Bad-Upper", "x")])));
    } else if (mode === "bad-trailers") {
      s.write(frame(FRAME.HEADERS, FLAG.END_HEADERS, stream, status200));
      s.write(frame(FRAME.DATA, 0, stream, Buffer.from("part-")));
      setTimeout(() => s.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, stream, hpack.literal("Bad-Trailer", "x"))), 50);
    } else {
      const p = Buffer.alloc(8);
      p.writeUInt32BE(0, 0);
      p.writeUInt32BE(1 /* PROTOCOL_ERROR */, 4);
      s.write(frame(FRAME.GOAWAY, 0, 0, p));
      s.end();
    }
  }
}

const SCRIPTS: Record<string, Mode[]> = { "bad-header": ["ok", "bad-header"], "bad-trailers": ["bad-trailers"], "goaway-protocol": ["goaway-protocol"] };

describe("HTTP/2 upstream protocol errors", () => {
  let proxy: ProxyServer;
  const backends = Object.values(SCRIPTS).map((script) => new ScriptedH2(script));
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-h2-upstream-"));
  const logFile = join(dir, "access.log");
  const origin = `http://${PROXY_IP}:${PORT}`;

  before(async () => {
    const names = Object.keys(SCRIPTS);
    await Promise.all(backends.map((b, i) => b.listen(8080 + i)));
    proxy = new ProxyServer({
      staticResources: {
        listeners: [httpListener("h2up", PROXY_IP, PORT, names.map((n) => prefixRoute(`/${n}/`, n)))],
        clusters: names.map((n, i) => staticCluster(n, BACKEND_IP, 8080 + i, { protocol: "http2" })),
      },
      node: { id: "test" },
      ip: PROXY_IP,
      accessLogPath: logFile,
      log: () => {},
    });
    await proxy.start();
  });
  after(async () => {
    await proxy.close();
    await Promise.all(backends.map((b) => b.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  const logLine = (path: string) => eventually(`access log for ${path}`, () => readFileSync(logFile, "utf8").split("\n").find((l) => l.includes(`"GET ${path} `)), 5_000);

  it("a response header block nghttp2 refuses: 502 UPE, 'protocol error'", async () => {
    assert.equal((await request(`${origin}/bad-header/0`)).status, 200);
    const r = await request(`${origin}/bad-header/1`);
    assert.equal(r.status, 502);
    assert.equal(r.body, "upstream connect error or disconnect/reset before headers. reset reason: protocol error");
    assert.match(await logLine("/bad-header/1"), /" 502 UPE /);
    assert.equal((await request(`${origin}/bad-header/2`)).status, 200, "the next request is served");
  });

  it("a protocol error after the response started resets the downstream (UPE on the access log)", async () => {
    await assert.rejects(request(`${origin}/bad-trailers/1`));
    assert.match(await logLine("/bad-trailers/1"), /" 200 UPE /);
    assert.equal((await request(`${origin}/bad-trailers/2`)).status, 200);
  });

  it("a GOAWAY with PROTOCOL_ERROR from the upstream is a connection termination: 503 UC", async () => {
    const r = await request(`${origin}/goaway-protocol/1`);
    assert.equal(r.status, 503);
    assert.equal(r.body, "upstream connect error or disconnect/reset before headers. reset reason: connection termination");
    assert.match(await logLine("/goaway-protocol/1"), /" 503 UC /);
    assert.equal((await request(`${origin}/goaway-protocol/2`)).status, 200);
  });
});
