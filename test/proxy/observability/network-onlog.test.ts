// Network read filters observe a connection's end (Envoy's AccessLog::Instance on a network filter,
// istio.stats' TCP metrics): over a real socket, a read filter with onLog gets the connection's
// record — addresses, bytes both ways, its dynamic metadata — once, before its onDestroy; a chain
// whose read filters do not observe builds nothing.
import assert from "node:assert/strict";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import type { ConnectionInfo } from "../../../src/proxy/listener-spec.js";
import type { NetworkHandler } from "../../../src/proxy/listeners.js";
import { chainHandler, type CompiledNetworkFilter, NetworkFilterStatus, type ReadFilter } from "../../../src/proxy/network-filters.js";
import type { TcpStreamInfo } from "../../../src/proxy/stream-info.js";
import { eventually } from "../../helpers/eventually.js";

const IP = "127.0.101.9";

/** The chain's terminal filter: answers the first bytes back and closes. */
const echoOnce: NetworkHandler = {
  handle(socket) {
    socket.once("data", (d: Buffer) => socket.end(Buffer.concat([d, d])));
    socket.on("error", () => {});
    socket.resume();
  },
  drain() {},
  close() {},
};
const terminal: CompiledNetworkFilter = { terminal: true, name: "echo", rdsNames: [], handler: () => echoOnce };

describe("network read filters' onLog", () => {
  const events: string[] = [];
  const records: TcpStreamInfo[] = [];
  const infos: ConnectionInfo[] = [];
  let server: net.Server;
  let observing = true;

  const observer: CompiledNetworkFilter = {
    terminal: false,
    name: "observer",
    create(): ReadFilter {
      const f: ReadFilter = {
        onNewConnection(cb) {
          infos.push(cb.connection);
          cb.dynamicMetadata.set("test", { seen: true });
          return NetworkFilterStatus.Continue;
        },
        onDestroy: () => events.push("destroy"),
      };
      if (observing)
        f.onLog = (info) => {
          events.push("log");
          records.push(info);
        };
      return f;
    },
  };

  before(async () => {
    const handler = chainHandler([observer, terminal]);
    server = net.createServer((s) => handler.handle(s, { listenerName: "l1", localAddress: IP, localPort: (server.address() as net.AddressInfo).port, remoteAddress: s.remoteAddress!, remotePort: s.remotePort! }));
    await new Promise<void>((r) => server.listen(0, IP, () => r()));
  });
  after(() => new Promise((r) => server.close(r)));

  function exchange(): Promise<string> {
    return new Promise((resolve, reject) => {
      const c = net.connect((server.address() as net.AddressInfo).port, IP, () => c.write("abc"));
      let out = "";
      c.on("data", (d: Buffer) => (out += d.toString()));
      c.on("close", () => resolve(out));
      c.on("error", reject);
    });
  }

  it("gets the connection's record once, before onDestroy", async () => {
    assert.equal(await exchange(), "abcabc");
    await eventually("destroyed", () => events.includes("destroy"));
    assert.deepEqual(events, ["log", "destroy"]);
    const r = records[0];
    assert.equal(r.kind, "tcp");
    assert.equal(r.listenerName, "l1");
    assert.equal(r.bytesReceived, 3);
    assert.equal(r.bytesSent, 6);
    assert.match(r.downstreamRemoteAddress, /^127\.0\.0\.1:\d+$/);
    assert.equal(r.downstreamLocalAddress, `${IP}:${(server.address() as net.AddressInfo).port}`);
    assert.deepEqual(r.dynamicMetadata?.get("test"), { seen: true });
    assert.equal(r.upstreamCluster, "");
  });

  it("without an observing filter the connection carries no log hook", async () => {
    observing = false;
    infos.length = 0;
    events.length = 0;
    assert.equal(await exchange(), "abcabc");
    await eventually("destroyed", () => events.includes("destroy"));
    assert.deepEqual(events, ["destroy"]);
    assert.equal(infos[0].readFilterLog, undefined);
  });
});
