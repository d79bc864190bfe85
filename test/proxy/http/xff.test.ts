// Envoy's downstream remote address from X-Forwarded-For (ConnectionManagerUtility and the default
// XFF original-IP detection): a table over use_remote_address, xff_num_trusted_hops and header
// values, including Envoy's fall-backs to the socket's peer.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { downstreamRemoteAddress, lastAddressFromXff } from "../../../src/proxy/http/xff.js";

const PEER = "10.0.0.1";

describe("downstream remote address", () => {
  const table: Array<[string, boolean, number, string | undefined, string]> = [
    ["use_remote_address, no trusted hops: the peer", true, 0, "1.1.1.1, 2.2.2.2", PEER],
    ["use_remote_address, 1 hop: the last XFF entry", true, 1, "1.1.1.1, 2.2.2.2", "2.2.2.2"],
    ["use_remote_address, 2 hops: the 2nd from the right", true, 2, "1.1.1.1, 2.2.2.2", "1.1.1.1"],
    ["use_remote_address, more hops than entries: the peer", true, 3, "1.1.1.1, 2.2.2.2", PEER],
    ["use_remote_address, hops but no XFF: the peer", true, 1, undefined, PEER],
    ["XFF detection, 0 hops: the last entry", false, 0, "1.1.1.1, 2.2.2.2", "2.2.2.2"],
    ["XFF detection, 1 hop: the 2nd from the right", false, 1, "1.1.1.1, 2.2.2.2", "1.1.1.1"],
    ["XFF detection, 1 hop, one entry: the peer", false, 1, "1.1.1.1", PEER],
    ["XFF detection, no XFF: the peer", false, 0, undefined, PEER],
    ["not an address: the peer", false, 0, "unknown", PEER],
    ["an address with a port is not an address", false, 0, "1.1.1.1:80", PEER],
    ["a trailing comma leaves nothing parseable: the peer", false, 0, "1.1.1.1,", PEER],
    ["blanks trimmed", false, 0, "1.1.1.1,\t 2.2.2.2 ", "2.2.2.2"],
    ["no blank after the comma", false, 1, "1.1.1.1,2.2.2.2", "1.1.1.1"],
    ["IPv6 entry", false, 0, "1.1.1.1, 2001:db8::1", "2001:db8::1"],
    ["spoofed leftmost entries are not trusted", false, 1, "6.6.6.6, 1.1.1.1, 2.2.2.2", "1.1.1.1"],
  ];
  for (const [name, useRemote, hops, xff, want] of table) {
    it(name, () => assert.equal(downstreamRemoteAddress(useRemote, hops, xff, PEER), want));
  }

  it("lastAddressFromXff skips from the right", () => {
    assert.equal(lastAddressFromXff("1.1.1.1, 2.2.2.2, 3.3.3.3", 0), "3.3.3.3");
    assert.equal(lastAddressFromXff("1.1.1.1, 2.2.2.2, 3.3.3.3", 2), "1.1.1.1");
    assert.equal(lastAddressFromXff("1.1.1.1, 2.2.2.2, 3.3.3.3", 3), undefined);
    assert.equal(lastAddressFromXff("", 0), undefined);
    assert.equal(lastAddressFromXff(",", 1), undefined);
  });
});
