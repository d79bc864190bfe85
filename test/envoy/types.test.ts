// The generated TypeScript types (src/envoy/gen/types.ts) against the objects the codecs really
// give: every key of every decoded golden resource (protobufjs and wire.ts) is a field the types
// declare, with the JavaScript form the types promise for its proto kind; and, checked by tsc when
// this file compiles, literals that the types must accept or refuse (each @ts-expect-error line
// fails the build if it stops being an error).
import assert from "node:assert/strict";
import { test } from "node:test";
import protobuf from "protobufjs";
import { loadProtoFiles } from "../../src/envoy/descriptor-gen.js";
import { decodeMessage, encodeMessage, TYPE_PREFIX } from "../../src/envoy/protos.js";
import { SCALAR_TS_TYPES } from "../../src/envoy/types-gen.js";
import type { AnyOf, Cluster, FilterChain, Listener, NetworkFilter, RouteConfiguration } from "../../src/envoy/types.js";
import { wireDecode, wireHas } from "../../src/envoy/wire.js";
import { goldenResources } from "../helpers/golden-xds.js";

const reference = loadProtoFiles();

/** Whether a decoded value has the JavaScript form the types give a scalar kind. */
function scalarFits(kind: string, v: unknown): boolean {
  const ts = SCALAR_TS_TYPES[kind];
  if (ts === "Uint8Array") return v instanceof Uint8Array;
  return typeof v === ts;
}

/** Field paths of `obj` (a typed object of `type`) that the generated types do not describe. */
function misfits(type: protobuf.Type, obj: Record<string, unknown>, path: string, out: string[]): string[] {
  const fields = new Map(type.fieldsArray.map((f) => [f.name, f]));
  for (const [k, v] of Object.entries(obj)) {
    const p = `${path}.${k}`;
    if (type.fullName === ".google.protobuf.Any") {
      // Known payloads are { "@type", ...fields } of their own type.
      if (k !== "@type") continue;
      const inner = reference.lookupType(String(v).slice(TYPE_PREFIX.length));
      const { "@type": _t, ...rest } = obj;
      misfits(inner, rest, `${path}<${inner.name}>`, out);
      continue;
    }
    const f = fields.get(k);
    if (!f) {
      out.push(`${p}: no such field`);
      continue;
    }
    f.resolve();
    const one = (x: unknown, at: string): void => {
      if (f.resolvedType instanceof protobuf.Type) {
        if (typeof x !== "object" || x === null || Array.isArray(x)) out.push(`${at}: not an object`);
        else misfits(f.resolvedType, x as Record<string, unknown>, at, out);
      } else if (f.resolvedType instanceof protobuf.Enum) {
        if (typeof x !== "string" || !(x in f.resolvedType.values)) out.push(`${at}: ${JSON.stringify(x)} is not a value name`);
      } else if (!scalarFits(f.type, x)) out.push(`${at}: ${typeof x} for ${f.type}`);
    };
    if (f.map) {
      if (typeof v !== "object" || v === null || Array.isArray(v)) out.push(`${p}: map not an object`);
      else for (const [mk, mv] of Object.entries(v)) one(mv, `${p}[${mk}]`);
    } else if (f.repeated) {
      if (!Array.isArray(v)) out.push(`${p}: not an array`);
      else v.forEach((x, i) => one(x, `${p}[${i}]`));
    } else one(v, p);
  }
  return out;
}

test("decoded golden resources have exactly the form the generated types describe", () => {
  const golden = goldenResources();
  assert.ok(golden.length > 100);
  for (const [file, url, obj] of golden) {
    const type = reference.lookupType(url.slice(TYPE_PREFIX.length));
    const bytes = encodeMessage(url, obj);
    assert.deepEqual(misfits(type, decodeMessage(url, bytes), "", []), [], `${file} (protobufjs)`);
    assert.deepEqual(misfits(type, wireDecode(url, bytes), "", []), [], `${file} (wire.ts)`);
  }
});

test("every scalar kind decodes to the JavaScript form its generated type names", () => {
  // One field of each scalar kind, found in the schema itself, set to a non-default value.
  const samples: Record<string, unknown> = { double: 1.5, float: 0.5, bool: true, string: "s", bytes: Buffer.from([1, 2]) };
  const seen = new Set<string>();
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const n of ns.nestedArray) {
      if (n instanceof protobuf.Type) {
        for (const f of n.fieldsArray) {
          if (f.resolve().resolvedType || f.map || f.repeated || f.partOf || seen.has(f.type)) continue;
          seen.add(f.type);
          const value = samples[f.type] ?? 7;
          const name = n.fullName.slice(1);
          const bytes = encodeMessage(name, { [f.name]: value });
          const decoded = [decodeMessage(name, bytes), ...(wireHas(name) ? [wireDecode(name, bytes)] : [])];
          for (const d of decoded) assert.ok(scalarFits(f.type, d[f.name]), `${n.fullName}.${f.name} (${f.type}): ${typeof d[f.name]}`);
        }
      }
      if (n instanceof protobuf.Namespace) walk(n);
    }
  };
  walk(reference);
  for (const k of ["int64", "uint64", "bytes", "double", "bool", "string", "uint32", "int32"]) assert.ok(seen.has(k), `a ${k} field was tried`);
});

// ---- checked by tsc: what the types accept and refuse ----

const listener: Listener = {
  name: "0.0.0.0_9080",
  address: { socketAddress: { address: "0.0.0.0", portValue: 9080 } },
  trafficDirection: "OUTBOUND",
  filterChains: [
    {
      filters: [
        {
          name: "envoy.filters.network.http_connection_manager",
          typedConfig: {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            statPrefix: "outbound_0.0.0.0_9080",
            rds: { configSource: { ads: {}, resourceApiVersion: "V3" }, routeConfigName: "9080" },
            httpFilters: [{ name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
          },
        },
      ],
    },
  ],
};

const cluster: Cluster = {
  name: "outbound|9080||reviews.default.svc.cluster.local",
  type: "EDS",
  connectTimeout: { seconds: 10 },
  circuitBreakers: { thresholds: [{ maxConnections: { value: 4294967295 } }] },
  typedExtensionProtocolOptions: {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
      "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
      useDownstreamProtocolConfig: { httpProtocolOptions: {}, http2ProtocolOptions: {} },
    },
  },
  metadata: { filterMetadata: { istio: { fields: { default_original_port: { numberValue: 9080 } } } } },
};

const route: RouteConfiguration = { name: "9080", virtualHosts: [{ name: "a", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "x", timeout: {} } }] }] };

const router: AnyOf<"envoy.extensions.filters.http.router.v3.Router"> = { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", suppressEnvoyHeaders: true };

/** Refused: each line below must stay a compile error. */
export const refused: unknown[] = [
  // @ts-expect-error a misspelt field
  { nmae: "x" } satisfies Cluster,
  // @ts-expect-error an enum value Envoy does not have
  { type: "DNS" } satisfies Cluster,
  // @ts-expect-error a wrapper written as its bare value
  { perConnectionBufferLimitBytes: 5 } satisfies Cluster,
  // @ts-expect-error a misspelt field inside an Any, checked against the type its "@type" names
  { typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", suppresEnvoyHeaders: true } } satisfies NetworkFilter,
  // @ts-expect-error an Any of a type URL no schema has
  { filters: [{ typedConfig: { "@type": "type.googleapis.com/example.Nope" } }] } satisfies FilterChain,
  // @ts-expect-error a field of the wrong payload type
  { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", statPrefix: "x" } satisfies AnyOf<"envoy.extensions.filters.http.router.v3.Router">,
];

test("the type-checked literals are what the codec round-trips", () => {
  for (const [url, obj] of [
    ["type.googleapis.com/envoy.config.listener.v3.Listener", listener],
    ["type.googleapis.com/envoy.config.cluster.v3.Cluster", cluster],
    ["type.googleapis.com/envoy.config.route.v3.RouteConfiguration", route],
  ] as const) {
    const o = obj as unknown as Record<string, unknown>;
    assert.deepEqual(JSON.parse(JSON.stringify(decodeMessage(url, encodeMessage(url, o)))), JSON.parse(JSON.stringify(o)), url);
  }
  assert.equal(decodeMessage(router["@type"], encodeMessage(router["@type"], router as unknown as Record<string, unknown>)).suppressEnvoyHeaders, true);
});
