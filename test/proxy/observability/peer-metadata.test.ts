// Istio's peer metadata codecs: the node Struct a proxy sends (istio/proxy's keys only, encoded
// deterministically), the PeerMetadata a received Struct becomes, the `x-envoy-peer-metadata` header
// form and the istio-peer-exchange TCP framing — round trips, and adversarial tables for what a peer
// may send instead (oversized, truncated, wrong magic, bad base64, bytes that are not a Struct).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decodeStruct,
  encodeExchange,
  encodeStruct,
  exchangedNodeStruct,
  localPeer,
  MAX_PEER_METADATA_BYTES,
  MX_MAGIC,
  PEER_METADATA_HEADER,
  PEER_METADATA_ID_HEADER,
  peerFromHeader,
  peerFromStruct,
  readExchange,
} from "../../../src/proxy/observability/peer-metadata.js";
import { wireDecode } from "../../../src/envoy/wire.js";
import { fromStruct } from "../../../src/envoy/protos.js";

const NODE_METADATA = {
  NAME: "reviews-v2-5b8f",
  NAMESPACE: "default",
  OWNER: "kubernetes://apis/apps/v1/namespaces/default/deployments/reviews-v2",
  WORKLOAD_NAME: "reviews-v2",
  CLUSTER_ID: "Kubernetes",
  MESH_ID: "cluster.local",
  ISTIO_VERSION: "1.24.0",
  INSTANCE_IPS: "10.0.0.7",
  LABELS: { app: "reviews", version: "v2", "service.istio.io/canonical-name": "reviews", "service.istio.io/canonical-revision": "v2", team: "books" },
  // Not exchanged by istio/proxy:
  INTERCEPTION_MODE: "NONE",
  PROXY_CONCURRENCY: "2",
};
const ID = "sidecar~10.0.0.7~reviews-v2-5b8f.default~default.svc.cluster.local";

/** An Any (type_url = 1, value = 2) by hand, for payloads the encoder would never make. */
function any(typeUrl: string, value: Uint8Array): Buffer {
  const u = Buffer.from(typeUrl);
  return Buffer.concat([Buffer.from([0x0a, u.length]), u, Buffer.from([0x12, value.length]), Buffer.from(value)]);
}

function frame(payload: Buffer, length = payload.length, magic = MX_MAGIC): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(magic, 0);
  h.writeUInt32BE(length, 4);
  return Buffer.concat([h, payload]);
}

describe("the exchanged node Struct", () => {
  it("keeps istio/proxy's keys only, with string values, and encodes deterministically", () => {
    const node = exchangedNodeStruct(NODE_METADATA);
    assert.deepEqual(Object.keys(node), ["CLUSTER_ID", "INSTANCE_IPS", "ISTIO_VERSION", "LABELS", "MESH_ID", "NAME", "NAMESPACE", "OWNER", "WORKLOAD_NAME"]);
    assert.equal((node.LABELS as Record<string, string>).team, "books");
    // The same Struct from keys in another order is the same bytes (map entries sorted).
    const reversed = Object.fromEntries(Object.entries(node).reverse());
    assert.deepEqual(encodeStruct(reversed), encodeStruct(node));
    assert.deepEqual(fromStruct(wireDecode("google.protobuf.Struct", encodeStruct(node))), node);
    assert.equal(exchangedNodeStruct({ NAME: 7, LABELS: "x" }).NAME, "", "a non-string is an empty string_value");
  });

  it("the header value decodes back to this proxy's PeerMetadata", () => {
    const local = localPeer(ID, NODE_METADATA);
    const peer = peerFromHeader(local.headerValue);
    assert.deepEqual(peer, local.metadata);
    assert.deepEqual(peer, {
      name: "reviews-v2-5b8f",
      namespace: "default",
      cluster: "Kubernetes",
      workload: "reviews-v2",
      service: "reviews",
      revision: "v2",
      app: "reviews",
      version: "v2",
      type: "deployment",
      identity: "",
      labels: { "service.istio.io/canonical-name": "reviews", "service.istio.io/canonical-revision": "v2", app: "reviews", version: "v2" },
    });
    assert.deepEqual(peerFromHeader(local.headerValue, ["team"])?.labels.team, "books", "additional_labels are kept");
    assert.deepEqual(peerFromHeader(local.headerValue.replace(/=+$/, "")), local.metadata, "unpadded base64 is accepted (decodeWithoutPadding)");
  });
});

describe("PeerMetadata from a node Struct", () => {
  const cases: Array<[string, Record<string, unknown>, Partial<Record<string, string>>]> = [
    ["canonical labels win", { WORKLOAD_NAME: "w", LABELS: { "service.istio.io/canonical-name": "c", app: "a", version: "v", "service.istio.io/canonical-revision": "r" } }, { service: "c", revision: "r" }],
    ["app and version when no canonical labels", { WORKLOAD_NAME: "w", LABELS: { app: "a", version: "v" } }, { service: "a", revision: "v" }],
    ["the workload and latest when no labels", { WORKLOAD_NAME: "w" }, { service: "w", revision: "latest", app: "", version: "" }],
    ["owner: a job", { WORKLOAD_NAME: "j", OWNER: "kubernetes://apis/batch/v1/namespaces/ns/jobs/j" }, { type: "job" }],
    ["owner of another workload: pod", { WORKLOAD_NAME: "j", OWNER: "kubernetes://apis/apps/v1/namespaces/ns/deployments/other" }, { type: "pod" }],
    ["non-string fields are empty", { NAME: 1, NAMESPACE: { x: 1 }, LABELS: [1] }, { name: "", namespace: "", service: "", revision: "latest" }],
  ];
  for (const [name, node, want] of cases) {
    it(name, () => {
      const p = peerFromStruct(node) as unknown as Record<string, string>;
      for (const [k, v] of Object.entries(want)) assert.equal(p[k], v, k);
    });
  }
});

describe("x-envoy-peer-metadata from a peer: anything malformed is no peer, never an exception", () => {
  const good = localPeer(ID, NODE_METADATA).headerValue;
  const cases: Array<[string, string]> = [
    ["empty", ""],
    ["not base64", "!!not*base64!!"],
    ["base64 with a stray character", good.slice(0, 10) + "\u00e9" + good.slice(10)],
    ["impossible length", "QUJDR"],
    ["truncated (not a whole Struct)", good.slice(0, Math.floor(good.length / 2))],
    ["bytes that are not a Struct", Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]).toString("base64")],
    ["a Struct field of the wrong wire type", Buffer.from([0x08, 0x01]).toString("base64")],
    ["oversized", "A".repeat(Math.ceil((MAX_PEER_METADATA_BYTES * 4) / 3) + 8)],
  ];
  for (const [name, value] of cases) it(name, () => assert.equal(peerFromHeader(value), undefined));
  it("decodeStruct refuses more than the bound", () => assert.equal(decodeStruct(Buffer.alloc(MAX_PEER_METADATA_BYTES + 1)), undefined));
});

describe("istio-peer-exchange framing", () => {
  const local = localPeer(ID, NODE_METADATA);
  const wire = encodeExchange(local);

  it("writes magic, length and an Any of a Struct holding the node and its id; reads it back", () => {
    assert.equal(wire.readUInt32BE(0), 0x3d230467);
    assert.equal(wire.readUInt32BE(4), wire.length - 8);
    const tail = Buffer.from("GET / HTTP/1.1\r\n");
    const r = readExchange(Buffer.concat([wire, tail]));
    assert.equal(r.kind, "peer");
    if (r.kind !== "peer") return;
    assert.equal(r.consumed, wire.length, "only the exchange is consumed; the application's bytes stay");
    assert.equal(r.id, ID);
    assert.deepEqual(peerFromStruct(r.node!), local.metadata);
  });

  it("a payload whose Struct has no id gives an empty id", () => {
    const r = readExchange(encodeExchange({ id: "", node: local.node }));
    assert.ok(r.kind === "peer" && r.id === "" && r.node?.NAME === "reviews-v2-5b8f");
  });

  const struct = encodeStruct({ [PEER_METADATA_HEADER]: { NAME: "x" }, [PEER_METADATA_ID_HEADER]: "id" });
  const cases: Array<[string, Buffer, string]> = [
    ["nothing yet", Buffer.alloc(0), "more"],
    ["half a header", wire.subarray(0, 5), "more"],
    ["the header and part of the payload (truncated)", wire.subarray(0, wire.length - 1), "more"],
    ["wrong magic (a peer without the filter: plain bytes)", Buffer.from("GET / HTTP/1.1\r\nhost: x\r\n\r\n"), "no-magic"],
    ["a length past the bound", frame(Buffer.alloc(0), MAX_PEER_METADATA_BYTES + 1), "too-large"],
    ["the largest length is past the bound", frame(Buffer.alloc(0), 0xffffffff), "too-large"],
    ["payload not an Any", frame(Buffer.from([0xff, 0xff, 0xff])), "bad-payload"],
    ["an Any of another type", frame(any("type.googleapis.com/google.protobuf.Duration", Buffer.from([0x08, 0x01]))), "bad-payload"],
    ["an Any of a Struct whose bytes are not one", frame(any("type.googleapis.com/google.protobuf.Struct", Buffer.from([0x0a, 0x7f, 0x01]))), "bad-payload"],
    ["an Any of a Struct", frame(any("type.googleapis.com/google.protobuf.Struct", struct)), "peer"],
    ["an empty payload (an empty Any)", frame(Buffer.alloc(0)), "bad-payload"],
  ];
  for (const [name, bytes, kind] of cases) {
    it(name, () => {
      const r = readExchange(bytes);
      assert.equal(r.kind, kind);
      if (r.kind === "bad-payload") assert.equal(r.consumed, 8, "Istio drains the header before it parses the payload");
    });
  }

  it("a Struct whose metadata field is not a Struct is a peer without metadata", () => {
    const r = readExchange(frame(any("type.googleapis.com/google.protobuf.Struct", encodeStruct({ [PEER_METADATA_HEADER]: "x" }))));
    assert.ok(r.kind === "peer" && r.node === undefined);
  });
});
