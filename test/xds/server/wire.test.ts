// Responses assembled from ready resource bytes must be exactly what protobufjs decodes as the
// Envoy messages: every field, multi-byte lengths, UTF-8 names, removed resources.
import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeResource } from "../../../src/envoy/encoded.js";
import { CLUSTER_TYPE, messageType } from "../../../src/envoy/protos.js";
import { DELTA_DISCOVERY_RESPONSE, DISCOVERY_RESPONSE } from "../../../src/xds/server/service.js";
import { encodeDeltaResponse, encodeSotwResponse } from "../../../src/xds/server/wire.js";

type Decoded = Record<string, unknown> & { resources: Array<Record<string, unknown>> };

function decode(typeName: string, buf: Buffer): Decoded {
  const t = messageType(typeName);
  return t.toObject(t.decode(buf), { defaults: true, bytes: Buffer }) as Decoded;
}

// Sizes straddling varint boundaries: 1-, 2- and 3-byte lengths.
const cases = [
  { name: "small", meta: 0 },
  { name: "outbound|9080|v1|reviews.default.svc.cluster.local", meta: 200 },
  { name: "big-ünïcode-名前", meta: 20_000 },
];
const resources = cases.map(({ name, meta }) =>
  encodeResource(CLUSTER_TYPE, name, { name, altStatName: "x".repeat(meta), type: "EDS" }),
);

test("wire: SotW DiscoveryResponse decodes to the same fields and resource bytes", () => {
  const buf = encodeSotwResponse("2026-11-22T00:00:00Z/7", CLUSTER_TYPE, "abc-1", resources);
  const d = decode(DISCOVERY_RESPONSE, buf);
  assert.equal(d.versionInfo, "2026-11-22T00:00:00Z/7");
  assert.equal(d.typeUrl, CLUSTER_TYPE);
  assert.equal(d.nonce, "abc-1");
  assert.equal(d.resources.length, resources.length);
  d.resources.forEach((any, i) => {
    assert.equal(any.type_url ?? any.typeUrl, CLUSTER_TYPE);
    assert.deepEqual(Buffer.from(any.value as Uint8Array), Buffer.from(resources[i].bytes));
  });
});

test("wire: Delta response carries name, version, Any and removed_resources", () => {
  const buf = encodeDeltaResponse("v9", CLUSTER_TYPE, "n-2", resources, ["gone-a", "gone-ß"]);
  const d = decode(DELTA_DISCOVERY_RESPONSE, buf);
  assert.equal(d.systemVersionInfo, "v9");
  assert.equal(d.typeUrl, CLUSTER_TYPE);
  assert.equal(d.nonce, "n-2");
  assert.deepEqual(d.removedResources, ["gone-a", "gone-ß"]);
  d.resources.forEach((r, i) => {
    assert.equal(r.name, resources[i].name);
    assert.equal(r.version, resources[i].version);
    const any = r.resource as Record<string, unknown>;
    assert.equal(any.type_url ?? any.typeUrl, CLUSTER_TYPE);
    assert.deepEqual(Buffer.from(any.value as Uint8Array), Buffer.from(resources[i].bytes));
  });
});

test("wire: empty responses and shared entries across responses", () => {
  const empty = decode(DELTA_DISCOVERY_RESPONSE, encodeDeltaResponse("", CLUSTER_TYPE, "n", [], []));
  assert.deepEqual(empty.resources, []);
  assert.equal(empty.nonce, "n");
  // The second response reuses the cached entries; the per-stream fields still differ.
  const a = decode(DISCOVERY_RESPONSE, encodeSotwResponse("1", CLUSTER_TYPE, "s1-1", resources));
  const b = decode(DISCOVERY_RESPONSE, encodeSotwResponse("1", CLUSTER_TYPE, "s2-1", resources));
  assert.equal(a.nonce, "s1-1");
  assert.equal(b.nonce, "s2-1");
  assert.deepEqual(a.resources, b.resources);
});

test("wire: long lists sharing stretches (cached runs) still decode exactly, in order", () => {
  const shared = Array.from({ length: 700 }, (_, i) =>
    encodeResource(CLUSTER_TYPE, `outbound|80||svc-${i}.ns.svc.cluster.local`, { name: `outbound|80||svc-${i}.ns.svc.cluster.local`, type: "EDS" }),
  );
  const own = (p: number) => Array.from({ length: 1 + (p % 3) }, (_, i) => encodeResource(CLUSTER_TYPE, `inbound|${p}|${i}`, { name: `inbound|${p}|${i}` }));
  for (const p of [1, 2, 3, 4]) {
    // Each proxy's own entries at a different place; one proxy also misses a shared one.
    const list = [...shared.slice(0, p * 50), ...own(p), ...shared.slice(p * 50).filter((_, i) => p !== 3 || i !== 100)];
    for (const [buf, type] of [
      [encodeDeltaResponse("v", CLUSTER_TYPE, `n${p}`, list, []), DELTA_DISCOVERY_RESPONSE],
      [encodeSotwResponse("v", CLUSTER_TYPE, `n${p}`, list), DISCOVERY_RESPONSE],
    ] as const) {
      const d = decode(type, buf);
      assert.equal(d.resources.length, list.length);
      d.resources.forEach((r, i) => {
        const any = (type === DELTA_DISCOVERY_RESPONSE ? r.resource : r) as Record<string, unknown>;
        assert.deepEqual(Buffer.from(any.value as Uint8Array), Buffer.from(list[i].bytes), `proxy ${p} resource ${i}`);
      });
    }
  }
});
