// A listener updated again while the proxy is still binding the previous update's listeners (a
// --concurrency worker gets the primary's whole state, then the update that arrived meanwhile,
// often the same listeners again): the listener being bound with its earlier version gets that
// version's filter chains, and it serves. Before, it was looked up in the newer compile, failed
// with "no handler", and the identical newer version was then skipped as already failed: bookinfo's
// productpage sidecar came up now and then without its outbound listener (127.0.226.x).
import assert from "node:assert/strict";
import * as net from "node:net";
import { after, describe, it } from "node:test";
import { LISTENER_TYPE } from "../../src/envoy/protos.js";
import type { ProtoObject } from "../../src/envoy/protos.js";
import type { DecodedResource } from "../../src/proxy/xds/resources.js";
import { ProxyServer } from "../../src/proxy/proxy.js";
import { request } from "./helpers.js";
import { eventually } from "../helpers/eventually.js";
import { asDecoded } from "../helpers/xds.js";
import { httpListener } from "./protocol-helpers.js";

const IP = "127.0.226.1";
const FIRST_PORT = 15300;

/** A listener answering every request itself (a direct response naming the listener). */
function answering(name: string, port: number): DecodedResource {
  const l = httpListener(name, IP, port, [{ match: { prefix: "/" }, directResponse: { status: 200, body: { inlineString: name } } }]);
  return { name, version: "1", object: asDecoded<ProtoObject>(LISTENER_TYPE, l) };
}

const get = (port: number) => request(`http://${IP}:${port}/`);

describe("a listener updated while the previous update is still binding", () => {
  // Each bind answered after a round trip, as a --concurrency worker's is (node:cluster asks the
  // primary for the socket), so that binding an update takes a while.
  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
    setTimeout(() => (listen as (...a: unknown[]) => net.Server).apply(this, args), 3);
    return this;
  } as typeof listen;
  after(() => (net.Server.prototype.listen = listen));
  const errors: string[] = [];
  const proxy = new ProxyServer({ node: { id: `sidecar~${IP}~race.test~test.svc.cluster.local` }, ip: IP, log: (l: string) => (/error/i.test(l) ? errors.push(l) : undefined) });
  after(() => proxy.close());

  it("binds the last listener of the first update with its own filter chains, and serves", async () => {
    await proxy.start();
    // Twenty listeners bind one after the other before the last one's turn comes.
    const many = Array.from({ length: 20 }, (_, i) => answering(`l${i}`, FIRST_PORT + i));
    const last = answering("last", FIRST_PORT + 20);
    proxy.applyUpdate({ typeUrl: LISTENER_TYPE, updated: [...many, last], removed: [], versionInfo: "1", fullState: false });
    // Once the first listener is up, the binding is under way: the same listener again, as a
    // worker's forwarded update brings it.
    await eventually("the first listener serves", async () => (await get(FIRST_PORT).catch(() => ({ status: 0 }))).status === 200, 5000, 1);
    proxy.applyUpdate({ typeUrl: LISTENER_TYPE, updated: [answering("last", FIRST_PORT + 20)], removed: [], versionInfo: "2", fullState: false });
    await eventually("the last listener serves", async () => (await get(FIRST_PORT + 20).catch(() => ({ status: 0, body: "" }))).body === "last", 5000, 20);
    assert.deepEqual(errors.filter((e) => /no handler/.test(e)), []);
  });
});
