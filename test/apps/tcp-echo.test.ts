// tcp-echo on real loopback sockets: `PREFIX LINE` for every line, on every port, as Istio's main.go.
import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { test } from "node:test";
import { tcpEcho } from "../../src/apps/tcp-echo.js";

function open(address: string): Promise<Socket> {
  const [host, port] = address.split(":");
  return new Promise((resolve, reject) => {
    const s = connect({ host, port: Number(port) }, () => resolve(s));
    s.once("error", reject);
  });
}

/** Reads from the socket until `n` newline-terminated lines arrived (or the stream ends). */
function readLines(s: Socket, n: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = "";
    const onData = (c: Buffer): void => {
      got += c.toString("utf8");
      if (got.split("\n").length - 1 >= n) finish();
    };
    const finish = (): void => {
      s.off("data", onData);
      s.off("end", finish);
      s.off("error", reject);
      resolve(got);
    };
    s.on("data", onData);
    s.once("end", finish);
    s.once("error", reject);
  });
}

function handles(): string {
  const out: Record<string, number> = {};
  for (const k of process.getActiveResourcesInfo()) if (["Timeout", "TCPServerWrap", "TCPSocketWrap"].includes(k)) out[k] = (out[k] ?? 0) + 1;
  return JSON.stringify(Object.entries(out).sort());
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

test("answers every line with PREFIX LINE, on every port", async () => {
  const logs: string[] = [];
  const app = await tcpEcho({ argv: ["0,0,0", "one"], env: { HOST: "127.0.0.1" }, log: (l) => logs.push(l) });
  try {
    assert.equal(app.addresses.length, 3);
    assert.equal(new Set(app.addresses).size, 3);
    for (const address of app.addresses) {
      assert.match(address, /^127\.0\.0\.1:\d+$/);
      const s = await open(address);
      const reply = readLines(s, 4);
      s.write("hello\nworld\n");
      s.write("par");
      await new Promise((r) => setTimeout(r, 20));
      s.write("tial\n\n");
      assert.equal(await reply, "one hello\none world\none partial\none \n");
      s.destroy();
    }
    assert.ok(logs.some((l) => l.includes("listening on 127.0.0.1:") && l.endsWith("prefix: one")));
    assert.ok(logs.some((l) => l.endsWith("request: world response: one world")));
  } finally {
    await app.close();
  }
});

test("a trailing partial line gets no answer; the connection closes when the client's side ends", async () => {
  const app = await tcpEcho({ argv: ["0", "two"], env: { HOST: "127.0.0.1" }, log: () => {} });
  try {
    const s = await open(app.addresses[0]);
    const reply = readLines(s, 99);
    s.end("ping\npong");
    assert.equal(await reply, "two ping\n");
  } finally {
    await app.close();
  }
});

test("defaults as the original image: PORT (else 9000) and prefix hello; a port in use rejects", async () => {
  const app = await tcpEcho({ argv: [], env: { HOST: "127.0.0.1", PORT: "0" }, log: () => {} });
  try {
    const s = await open(app.addresses[0]);
    const reply = readLines(s, 1);
    s.write("world\n");
    assert.equal(await reply, "hello world\n");
    s.destroy();
    const port = app.addresses[0].split(":")[1];
    await assert.rejects(tcpEcho({ argv: [`0,${port}`, "x"], env: { HOST: "127.0.0.1" }, log: () => {} }), /failed to create listener.*EADDRINUSE/);
  } finally {
    await app.close();
  }
  await assert.rejects(tcpEcho({ argv: ["90000", "x"], env: {}, log: () => {} }), /invalid port/);
});

test("close() ends open connections promptly and leaves no handles", async () => {
  const baseline = await settledHandles();
  const app = await tcpEcho({ argv: ["0,0", "one"], env: { HOST: "127.0.0.1" }, log: () => {} });
  const clients = await Promise.all(app.addresses.map(open));
  const ended = clients.map((c) => new Promise<void>((r) => c.once("close", () => r())));
  for (const c of clients) c.on("error", () => {});
  const t0 = Date.now();
  await app.close();
  await Promise.all(ended);
  // The clients never close: a close() that waited for them would not return at all.
  assert.ok(Date.now() - t0 < 4000, `close took ${Date.now() - t0} ms`);
  await app.close();
  assert.equal(await settledHandles(), baseline);
  // The ports are free again.
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once("error", reject);
    probe.listen(Number(app.addresses[0].split(":")[1]), "127.0.0.1", () => resolve());
  });
  await new Promise<void>((r) => probe.close(() => r()));
});
