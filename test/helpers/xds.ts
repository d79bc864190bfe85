// Test helpers for generated xDS: build a PushContext from YAML folders, compare with golden files,
// and check that a typed object survives a protobuf round trip (catches misspelled fields, which
// protobufjs would otherwise drop silently, and default values written out).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { validateText } from "../../src/api/validate.js";
import type { AnyResource } from "../../src/api/resource.js";
import { listConfigFiles } from "../../src/config/files.js";
import { packageRoot } from "../../src/core/paths.js";
import { decodeMessage, encodeMessage } from "../../src/envoy/protos.js";
import type { Any } from "../../src/envoy/types.js";
import { PushContext, pushInputFrom, DEFAULT_MESH_CONFIG, type MeshConfig } from "../../src/model/push-context.js";
import { parseProxy, proxyNodeId, type Proxy, type ProxyType } from "../../src/model/proxy.js";

/** Parses and validates YAML text; throws on any invalid document. */
export function resourcesFromYaml(text: string, file = "test.yaml"): AnyResource[] {
  const out: AnyResource[] = [];
  for (const doc of validateText(text, file)) {
    if (!doc.valid || !doc.resource) {
      throw new Error(`${file}: invalid document ${doc.index}: ${doc.diagnostics.map((d) => `${d.path}: ${d.message}`).join("; ")}`);
    }
    out.push(doc.resource);
  }
  return out;
}

/** Loads every YAML file under the given paths (files or folders, relative to the package root). */
export function resourcesFromPaths(...paths: string[]): AnyResource[] {
  const out: AnyResource[] = [];
  for (const p of paths) {
    const abs = join(packageRoot(), p);
    const files = statSync(abs).isDirectory() ? listConfigFiles(abs) : [abs];
    for (const f of files) out.push(...resourcesFromYaml(readFileSync(f, "utf8"), f));
  }
  return out;
}

/** A PushContext from resources (and optional extra YAML). */
export function pushContext(resources: AnyResource[], mesh: Partial<MeshConfig> = {}): PushContext {
  return new PushContext(pushInputFrom(resources), { ...DEFAULT_MESH_CONFIG, ...mesh });
}

/** The bookinfo example as a PushContext, plus optional extra YAML (e.g. an Istio sample). */
export function bookinfo(...extraYaml: string[]): PushContext {
  const res = resourcesFromPaths("examples/bookinfo");
  for (const y of extraYaml) res.push(...resourcesFromYaml(y));
  return pushContext(res);
}

export interface TestProxyOptions {
  type?: ProxyType;
  ip: string;
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  locality?: { region?: string; zone?: string; subZone?: string };
  metadata?: Record<string, unknown>;
  /** The node's user_agent_name and user_agent_version. */
  userAgent?: [name: string, version: string];
}

/** A Proxy as parsed from a node a real agent would send. */
export function testProxy(o: TestProxyOptions): Proxy {
  const ns = o.namespace ?? "default";
  return parseProxy({
    id: proxyNodeId(o.type ?? "sidecar", o.ip, o.name, ns),
    locality: o.locality,
    metadata: { NAMESPACE: ns, LABELS: o.labels ?? {}, ...o.metadata },
    userAgentName: o.userAgent?.[0],
    userAgentVersion: o.userAgent?.[1],
  });
}

/**
 * Drops undefined values (JSON semantics), as the decoded form has none; bytes (a raw Any's value,
 * decoded as a Buffer) compare as the base64 text generators write them in.
 */
function normalize(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x: unknown) => (x && typeof x === "object" && (x as { type?: unknown }).type === "Buffer" && Array.isArray((x as { data?: unknown }).data) ? Buffer.from((x as { data: number[] }).data).toString("base64") : x)));
}

/**
 * Asserts `obj` encodes as `typeUrl` and decodes back to the same object: every field name is real
 * and nothing is written that proto3 would drop (default scalars).
 */
export function assertRoundTrip(typeUrl: string, obj: object, what = ""): void {
  const back = decodeMessage(typeUrl, encodeMessage(typeUrl, obj));
  assert.deepStrictEqual(normalize(back), normalize(obj), `${what}: protobuf round trip changed the resource (misspelled field or default value?)`);
}

/**
 * A message as the proxy's decoders give it (`obj` encoded and decoded as `typeUrl`): for what only
 * they produce, such as an enum value the schema lacks (a number), so the literal is untyped.
 */
export function asDecoded<T>(typeUrl: string, obj: object): T {
  return decodeMessage(typeUrl, encodeMessage(typeUrl, obj)) as T;
}

/** An Any of a type outside the generated types (an extension the proxy does not implement). */
export function foreignAny(typeUrl: string): Any {
  return { "@type": typeUrl } as unknown as Any;
}

/**
 * Compares `value` (JSON-serialisable) with test/xds/gen/testdata/NAME.json; UPDATE_GOLDEN=1 rewrites it.
 * The golden file lives in the source tree (tests run from dist/).
 */
export function assertGolden(name: string, value: unknown): void {
  const file = join(packageRoot(), "test", "xds", "gen", "testdata", `${name}.json`);
  const text = JSON.stringify(value, null, 2) + "\n";
  if (process.env.UPDATE_GOLDEN === "1" || !existsSync(file)) {
    if (process.env.CI === "true" && !existsSync(file)) assert.fail(`golden file ${file} is missing (run with UPDATE_GOLDEN=1 and commit it)`);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    return;
  }
  const want = readFileSync(file, "utf8");
  assert.equal(text, want, `generated config differs from golden ${file} (UPDATE_GOLDEN=1 to accept, then review the diff)`);
}
