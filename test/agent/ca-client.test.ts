// The agent's CreateCertificate client against hostile or broken servers on real TLS sockets: a
// server that never answers (the deadline), one that announces a huge message (the size bound),
// two messages on a unary call, gRPC errors with their message, a plain HTTP answer — and the
// credential file refused before anything is sent.
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CaCallError, CaClient } from "../../src/agent/ca-client.js";
import { encodeCertificateResponse, MAX_CERT_RESPONSE_BYTES } from "../../src/security/ca-proto.js";
import { meshCaIn } from "./test-ca.js";

const tmp = mkdtempSync(join(tmpdir(), "tsmesh-ca-client-"));
const tokenFile = join(tmp, "token");
let mesh: Awaited<ReturnType<typeof meshCaIn>>;
const servers: { close(): void }[] = [];

before(async () => {
  mesh = await meshCaIn(join(tmp, "ca"));
  writeFileSync(tokenFile, "a-token\n");
});
after(() => {
  for (const s of servers) s.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** A TLS HTTP/2 server with istiod's certificate answering every stream with `respond`. */
async function h2Server(respond: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void): Promise<string> {
  const server = http2.createSecureServer({ cert: mesh.serving.certPem, key: mesh.serving.keyPem });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    // Read the request to its end first, as a gRPC server does.
    stream.resume();
    stream.on("end", () => respond(stream, headers));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  servers.push({ close: () => server.close() });
  return `127.0.0.1:${(server.address() as { port: number }).port}`;
}

function client(address: string, o: { timeoutMs?: number; credentialFile?: string } = {}): CaClient {
  return new CaClient({ address, rootsPem: () => mesh.rootPem, credentialFile: o.credentialFile ?? tokenFile, timeoutMs: o.timeoutMs ?? 10_000 });
}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  assert.fail("the call succeeded");
}

function frame(message: Buffer, declaredLength = message.length): Buffer {
  const f = Buffer.alloc(5 + message.length);
  f.writeUInt32BE(declaredLength, 1);
  message.copy(f, 5);
  return f;
}

describe("the CA client", () => {
  it("sends the CSR with the bearer token and decodes the chain", async () => {
    let seen: http2.IncomingHttpHeaders = {};
    const address = await h2Server((stream, headers) => {
      seen = headers;
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(frame(encodeCertificateResponse({ certChain: ["leaf", "root"] })));
    });
    assert.deepEqual(await client(address).createCertificate("csr", 60), ["leaf", "root"]);
    assert.equal(seen.authorization, "Bearer a-token");
    assert.equal(seen[":path"], "/istio.v1.auth.IstioCertificateService/CreateCertificate");
    assert.equal(seen["content-type"], "application/grpc");
    assert.match(String(seen["grpc-timeout"]), /^\d+m$/);
  });

  it("gives up at its deadline on a server that accepts and never answers", async () => {
    const silent: Server = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    servers.push({ close: () => silent.close() });
    const e = await failure(client(`127.0.0.1:${(silent.address() as { port: number }).port}`, { timeoutMs: 300 }).createCertificate("csr", 60));
    assert.ok(e instanceof CaCallError);
    assert.equal(e.code, 4);
    assert.match(e.message, /DEADLINE_EXCEEDED: Deadline exceeded after 300 ms/);
  });

  it("ends a call in flight when closed (the proxy stopping), not at its deadline", async () => {
    const silent: Server = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    servers.push({ close: () => silent.close() });
    const c = client(`127.0.0.1:${(silent.address() as { port: number }).port}`, { timeoutMs: 60_000 });
    const call = failure(c.createCertificate("csr", 60));
    setTimeout(() => c.close(), 100);
    const e = await call;
    assert.ok(e instanceof CaCallError);
    assert.notEqual(e.code, 4, e.message);
    await assert.rejects(c.createCertificate("csr", 60), /the CA client is closed/);
  });

  for (const [what, respond, code, want] of [
    [
      "a message larger than the bound (refused before it is buffered)",
      (s: http2.ServerHttp2Stream) => {
        s.respond({ ":status": 200, "content-type": "application/grpc" });
        s.write(frame(Buffer.alloc(16), MAX_CERT_RESPONSE_BYTES + 1));
      },
      8,
      /RESOURCE_EXHAUSTED: received a message larger than max \(262145 vs\. 262144\)/,
    ],
    [
      "two messages on a unary call",
      (s: http2.ServerHttp2Stream) => {
        s.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        s.on("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
        const m = encodeCertificateResponse({ certChain: ["a", "b"] });
        s.end(Buffer.concat([frame(m), frame(m)]));
      },
      13,
      /INTERNAL: more than one response message on a unary call/,
    ],
    [
      "an OK status without a message",
      (s: http2.ServerHttp2Stream) => {
        s.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        s.on("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
        s.end();
      },
      13,
      /INTERNAL: no response message on a unary call/,
    ],
    [
      "a refusal (Trailers-Only), its message decoded",
      (s: http2.ServerHttp2Stream) => s.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "7", "grpc-message": "the%20CSR%20asks%20for%20another%20identity" }, { endStream: true }),
      7,
      /PERMISSION_DENIED: the CSR asks for another identity$/,
    ],
    [
      "an answer that is not gRPC",
      (s: http2.ServerHttp2Stream) => s.respond({ ":status": 404, "content-type": "text/plain" }, { endStream: true }),
      12,
      /UNIMPLEMENTED: received HTTP status 404/,
    ],
    [
      "a response that is not an IstioCertificateResponse",
      (s: http2.ServerHttp2Stream) => {
        s.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        s.on("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
        s.end(frame(Buffer.from([0x0a, 0x7f, 0x41])));
      },
      13,
      /INTERNAL: the response is not an IstioCertificateResponse: .*runs past the end/,
    ],
  ] as const) {
    it(`fails with the status on ${what}`, async () => {
      const address = await h2Server(respond);
      const e = await failure(client(address).createCertificate("csr", 60));
      assert.ok(e instanceof CaCallError, e.message);
      assert.equal(e.code, code);
      assert.match(e.message, want);
    });
  }

  for (const [what, content, want] of [
    ["missing", undefined, /credential file .*missing: ENOENT/],
    ["empty", "\n\n", /credential file .* is empty/],
    ["with a line break inside", "abc\ndef", /does not hold a bearer token/],
    ["too large", "x".repeat(70_000), /is 70000 bytes, more than 65536/],
  ] as const) {
    it(`refuses a credential file ${what}, before any call and without quoting it`, async () => {
      let calls = 0;
      const address = await h2Server((s) => {
        calls++;
        s.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "0" }, { endStream: true });
      });
      const file = join(tmp, `token-${what.replace(/\W/g, "-")}`);
      if (content !== undefined) writeFileSync(file, content);
      const e = await failure(client(address, { credentialFile: content === undefined ? join(tmp, "missing") : file }).createCertificate("csr", 60));
      assert.match(e.message, want);
      assert.ok(!e.message.includes("abc") && !e.message.includes("xxxx"));
      assert.equal(calls, 0);
    });
  }
});
