// echoLine, the tcp-echo probe the end-to-end tests poll with: the first line back; an error when
// the connection closes with no line (a gateway whose route is not ready closes it), so a poll
// retries instead of hanging until the suite's timeout (127.0.226.x).
import assert from "node:assert/strict";
import * as net from "node:net";
import { after, describe, it } from "node:test";
import { echoLine } from "./sockets.js";

const IP = "127.0.226.2";

function server(onConnection: (s: net.Socket) => void): Promise<{ port: number; close: () => void }> {
  const srv = net.createServer(onConnection);
  return new Promise((resolve) => srv.listen(0, IP, () => resolve({ port: (srv.address() as net.AddressInfo).port, close: () => srv.close() })));
}

describe("echoLine", () => {
  const closers: Array<() => void> = [];
  after(() => closers.forEach((c) => c()));

  it("resolves with the first line the server sends back", async () => {
    const s = await server((c) => c.on("data", (b) => c.write(`one ${b.toString()}`)));
    closers.push(s.close);
    assert.equal(await echoLine(IP, s.port, "hello"), "one hello");
  });

  it("rejects when the server closes the connection without a line", { timeout: 10_000 }, async () => {
    const s = await server((c) => c.end());
    closers.push(s.close);
    await assert.rejects(echoLine(IP, s.port, "hello"), /closed the connection without an answer/);
  });
});
