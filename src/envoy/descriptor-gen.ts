// Generator of src/envoy/gen/*: Envoy's protos (the copy @grpc/grpc-js-xds ships) parsed once
// here, at development time, and checked in, so a process never parses ~150 .proto files at run
// time (~300 ms and ~20 MB of garbage per process before). The files:
// - full-descriptor.cts: every type of PROTO_FILES as a protobufjs JSON descriptor (what
//   envoyRoot() always had; the control plane uses it);
// - proxy-descriptor.cts: the same for the types reachable from PROXY_ROOT_TYPES (the resources,
//   discovery messages and typed_config Any types the proxy decodes) — what messageType() serves
//   first; other types fall back to the full set on first use;
// - proxy-wire.cts: those types again as wire.ts' compact schema (the proxy's own codec, so a
//   sidecar never loads protobufjs at all);
// - all-descriptor.cts: the rest of Envoy's v3 API (every envoy/…/v3/*.proto the deps ship, ~345
//   files, minus the full set), added to the full set only when a config names one of its types (a
//   Lua, ext_proc or wasm filter…), so the proxy can parse any Envoy config;
// - all-names.cts: which message types the full set and the rest have, and the few types no tier
//   can have (their .proto imports opencensus, opentelemetry or prometheus protos the deps lack);
// - types.ts: TypeScript types of the full set in typed-object form (types-gen.ts).
// Custom options (validate rules, udpa annotations…), extension fields and file options are left
// out: protobufjs never reads them. The descriptors are CommonJS (.cts) so they load synchronously,
// on demand.
// Run `npm run build && node dist/src/envoy/descriptor-gen.js` after changing PROTO_FILES,
// PROXY_ROOT_TYPES or the protos; test/envoy/descriptors.test.ts fails while the files are stale.
import { accessSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type * as protobuf from "protobufjs";
import { protoFieldName } from "./proto-json.js";
import { typesSource } from "./types-gen.js";

const require = createRequire(import.meta.url);

/** Every proto file tsmesh needs; their imports are followed. */
export const PROTO_FILES = [
  "envoy/service/discovery/v3/ads.proto",
  "envoy/service/secret/v3/sds.proto",
  "envoy/service/status/v3/csds.proto",
  "envoy/config/cluster/v3/cluster.proto",
  "envoy/config/endpoint/v3/endpoint.proto",
  "envoy/config/listener/v3/listener.proto",
  "envoy/config/route/v3/route.proto",
  "envoy/config/bootstrap/v3/bootstrap.proto",
  "envoy/admin/v3/config_dump.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/config/trace/v3/zipkin.proto",
  "envoy/config/trace/v3/opentelemetry.proto",
  "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto",
  "envoy/extensions/filters/network/rbac/v3/rbac.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/filters/http/fault/v3/fault.proto",
  "envoy/extensions/filters/http/cors/v3/cors.proto",
  "envoy/extensions/filters/http/rbac/v3/rbac.proto",
  "envoy/extensions/filters/http/jwt_authn/v3/config.proto",
  "envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto",
  "envoy/extensions/filters/network/ext_authz/v3/ext_authz.proto",
  "envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto",
  "envoy/extensions/filters/http/ratelimit/v3/rate_limit.proto",
  "envoy/extensions/filters/network/local_ratelimit/v3/local_rate_limit.proto",
  "envoy/extensions/filters/network/ratelimit/v3/rate_limit.proto",
  "envoy/extensions/path/match/uri_template/v3/uri_template_match.proto",
  "envoy/service/auth/v3/external_auth.proto",
  "envoy/service/ratelimit/v3/rls.proto",
  "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto",
  "envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto",
  "envoy/extensions/filters/listener/original_dst/v3/original_dst.proto",
  "envoy/extensions/transport_sockets/tls/v3/tls.proto",
  "envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  "envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto",
  "envoy/extensions/load_balancing_policies/maglev/v3/maglev.proto",
  "envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto",
  "envoy/extensions/load_balancing_policies/least_request/v3/least_request.proto",
  "envoy/extensions/load_balancing_policies/random/v3/random.proto",
  "envoy/extensions/access_loggers/file/v3/file.proto",
  "envoy/extensions/access_loggers/stream/v3/stream.proto",
  "envoy/extensions/clusters/aggregate/v3/cluster.proto",
  "envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto",
  "envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto",
  // Istio's own filter configs (src/envoy/protos: not in @grpc/grpc-js-xds' deps).
  "istio/envoy/extensions/stats/config.proto",
  "google/protobuf/wrappers.proto",
  "google/protobuf/struct.proto",
  "google/protobuf/duration.proto",
];

/**
 * Packages whose messages the proxy's wire schema keeps as raw bytes: CEL expressions (RBAC
 * `condition`, rate-limit descriptor expressions) that tsmesh's filters refuse rather than evaluate,
 * and whose int64-keyed maps the wire codec does not support.
 */
const OPAQUE_WIRE_PACKAGES = ["google.api.expr."];

/**
 * What the proxy decodes and encodes: the xDS resources, the discovery messages, and the Any
 * payloads (typed_config, typed_per_filter_config, typed_extension_protocol_options, retry
 * predicates, load-balancing policies) it understands or the control plane emits. Everything these
 * reach is included. Envoy bootstraps (--bootstrap) and admin types come from the full
 * set when first used.
 */
export const PROXY_ROOT_TYPES = [
  "envoy.config.listener.v3.Listener",
  "envoy.config.cluster.v3.Cluster",
  "envoy.config.endpoint.v3.ClusterLoadAssignment",
  "envoy.config.route.v3.RouteConfiguration",
  "envoy.extensions.transport_sockets.tls.v3.Secret",
  "envoy.service.discovery.v3.DiscoveryRequest",
  "envoy.service.discovery.v3.DiscoveryResponse",
  "envoy.service.discovery.v3.DeltaDiscoveryRequest",
  "envoy.service.discovery.v3.DeltaDiscoveryResponse",
  "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
  "envoy.extensions.filters.http.router.v3.Router",
  "envoy.extensions.filters.http.fault.v3.HTTPFault",
  "envoy.extensions.filters.http.cors.v3.Cors",
  "envoy.extensions.filters.http.cors.v3.CorsPolicy",
  "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
  "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector",
  "envoy.extensions.filters.listener.original_dst.v3.OriginalDst",
  "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
  "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
  "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer",
  "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
  "envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash",
  "envoy.extensions.load_balancing_policies.maglev.v3.Maglev",
  "envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin",
  "envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest",
  "envoy.extensions.load_balancing_policies.random.v3.Random",
  "envoy.extensions.access_loggers.file.v3.FileAccessLog",
  "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
  "envoy.extensions.access_loggers.stream.v3.StderrAccessLog",
  "envoy.extensions.clusters.aggregate.v3.ClusterConfig",
  "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate",
  "envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig",
  // Policy (issue 14): the filters RequestAuthentication, AuthorizationPolicy and rate limits
  // become, and the ext_authz / rate-limit service messages the proxy's clients exchange.
  "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
  "envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig",
  "envoy.extensions.filters.http.rbac.v3.RBAC",
  "envoy.extensions.filters.http.rbac.v3.RBACPerRoute",
  "envoy.extensions.filters.network.rbac.v3.RBAC",
  "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
  "envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute",
  "envoy.extensions.filters.network.ext_authz.v3.ExtAuthz",
  "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
  "envoy.extensions.filters.http.ratelimit.v3.RateLimit",
  // Tracing (issue 15): the HCM tracing providers the proxy implements.
  "envoy.config.trace.v3.ZipkinConfig",
  "envoy.config.trace.v3.OpenTelemetryConfig",
  "envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute",
  "envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit",
  "envoy.extensions.filters.network.ratelimit.v3.RateLimit",
  "envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig",
  "envoy.service.auth.v3.CheckRequest",
  "envoy.service.auth.v3.CheckResponse",
  "envoy.service.ratelimit.v3.RateLimitRequest",
  "envoy.service.ratelimit.v3.RateLimitResponse",
  // istio.stats (issue 15): Istio's stats filter config, decoded by the proxy's codec.
  "stats.PluginConfig",
  "google.protobuf.Duration",
  "google.protobuf.Struct",
  "google.protobuf.BoolValue",
  "google.protobuf.UInt32Value",
  "google.protobuf.StringValue",
];

function fileExists(path: string): boolean {
  try {
    accessSync(path);
    return true;
  } catch {
    return false;
  }
}

function protoDirs(): string[] {
  const xds = dirname(require.resolve("@grpc/grpc-js-xds/package.json"));
  const deps = join(xds, "deps");
  return [join(deps, "envoy-api"), join(deps, "xds"), join(deps, "googleapis"), join(deps, "protoc-gen-validate"), join(dirname(genDir()), "protos")];
}

/** Where an imported .proto is: in the deps, or google/protobuf/* from protobufjs (bundled or beside its package.json). */
function resolveProto(target: string): string | undefined {
  const pb = require("protobufjs") as typeof protobuf & { common: { get(file: string): unknown } };
  if (target.startsWith("google/protobuf/")) {
    const p = join(dirname(require.resolve("protobufjs/package.json")), target);
    return pb.common.get(target) || fileExists(p) ? p : undefined;
  }
  for (const d of protoDirs()) {
    const p = join(d, target);
    if (fileExists(p)) return p;
  }
  return undefined;
}

function parseFiles(files: readonly string[], keepCase: boolean): protobuf.Root {
  const pb = require("protobufjs") as typeof protobuf;
  const r = new pb.Root();
  r.resolvePath = (_origin: string, target: string): string => resolveProto(target) ?? target;
  r.loadSync([...files], { keepCase });
  r.resolveAll();
  return r;
}

/**
 * Parses PROTO_FILES (and their imports) from the .proto sources: the reference the descriptors are
 * made from (`keepCase`: with the .proto field names instead of protobufjs' camelCase).
 */
export function loadProtoFiles(keepCase = false): protobuf.Root {
  return parseFiles(PROTO_FILES, keepCase);
}

/** The envoy/…/v3/*.proto files the deps ship, and those left out because an import is missing. */
export interface EnvoyV3Files {
  files: string[];
  /** Left-out file → why (the import the deps lack, and through which files). */
  skipped: Map<string, string>;
  /** Message types of the left-out files → why. */
  unavailable: Map<string, string>;
}

/**
 * Every envoy/…/v3/*.proto of the deps. A few import protos @grpc/grpc-js-xds does not ship
 * (opencensus, opentelemetry, prometheus): those files, and files importing them, are left out and
 * their message types recorded as unavailable, with the reason.
 */
export function envoyV3Files(): EnvoyV3Files {
  const pb = require("protobufjs") as typeof protobuf;
  const base = join(protoDirs()[0]);
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(join(base, dir), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (/\/v3\/[^/]+\.proto$/.test(rel)) files.push(rel);
    }
  };
  walk("envoy");
  const importsOf = (file: string): string[] => [...readFileSync(resolveProto(file)!, "utf8").matchAll(/^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"/gm)].map((m) => m[1]);
  const chains = new Map<string, string[] | undefined>();
  /** The import path from a file to the first .proto in its closure the deps lack, or undefined. */
  const missingChain = (file: string): string[] | undefined => {
    if (chains.has(file)) return chains.get(file);
    chains.set(file, undefined); // an import cycle: a file being visited counts as present
    let chain: string[] | undefined;
    for (const imp of importsOf(file)) {
      if (!resolveProto(imp)) chain = [imp];
      else if (!imp.startsWith("google/protobuf/")) {
        const inner = missingChain(imp);
        if (inner) chain = [imp, ...inner];
      }
      if (chain) break;
    }
    chains.set(file, chain);
    return chain;
  };
  const out: EnvoyV3Files = { files: [], skipped: new Map(), unavailable: new Map() };
  for (const f of files) {
    const chain = missingChain(f);
    if (!chain) {
      out.files.push(f);
      continue;
    }
    const missing = chain[chain.length - 1];
    const via = chain.length > 1 ? ` (through ${chain.slice(0, -1).join(", ")})` : "";
    const why = `${f} imports ${missing}${via}, which @grpc/grpc-js-xds does not ship`;
    out.skipped.set(f, why);
    const walkTypes = (ns: protobuf.NamespaceBase): void => {
      for (const n of ns.nestedArray) {
        if (n instanceof pb.Type) out.unavailable.set(n.fullName.slice(1), why);
        if (n instanceof pb.Namespace) walkTypes(n);
      }
    };
    walkTypes(pb.parse(readFileSync(resolveProto(f)!, "utf8"), { keepCase: false }).root);
  }
  return out;
}

/** Parses every loadable envoy/…/v3/*.proto (a superset of PROTO_FILES): the third, largest tier. */
export function loadAllProtoFiles(v3: EnvoyV3Files = envoyV3Files(), keepCase = false): protobuf.Root {
  return parseFiles([...PROTO_FILES, ...v3.files], keepCase);
}

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** Drops custom options ("(validate.rules)…") and empty option maps; returns undefined when none is left. */
function plainOptions(o: unknown): Json | undefined {
  if (!isObj(o)) return undefined;
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) if (!k.startsWith("(")) out[k] = v;
  return Object.keys(out).length ? out : undefined;
}

/**
 * Cleans one descriptor node in place: a message (fields), an enum (values), a service (methods)
 * or a plain namespace (package). `keep` decides which nested objects stay (by full name).
 */
function cleanNode(node: Json, fullName: string, keep: (name: string) => boolean): boolean {
  const isType = isObj(node.fields);
  const isEnum = isObj(node.values);
  const isService = isObj(node.methods);
  if (isType || isEnum || isService) {
    const opts = plainOptions(node.options);
    if (opts) node.options = opts;
    else delete node.options;
  } else delete node.options; // package (file) options: java_package, go_package…
  if (isType) {
    for (const f of Object.values(node.fields as Json)) {
      if (!isObj(f)) continue;
      const opts = plainOptions(f.options);
      if (opts) f.options = opts;
      else delete f.options;
    }
  }
  if (isEnum && isObj(node.valuesOptions)) {
    const vo: Json = {};
    for (const [k, v] of Object.entries(node.valuesOptions)) {
      const opts = plainOptions(v);
      if (opts) vo[k] = opts;
    }
    if (Object.keys(vo).length) node.valuesOptions = vo;
    else delete node.valuesOptions;
  }
  if (isObj(node.nested)) {
    const nested = node.nested;
    for (const [k, child] of Object.entries(nested)) {
      const name = `${fullName}.${k}`;
      if (!isObj(child) || !cleanNode(child, name, keep)) delete nested[k];
    }
    if (Object.keys(nested).length === 0) delete node.nested;
  }
  if (isType || isEnum || isService) return keep(fullName);
  return isObj(node.nested); // a namespace stays while it holds something
}

/** Full names (without the leading dot) of every type and enum the given message types reach. */
export function reachableTypes(root: protobuf.Root, rootTypes: readonly string[]): Set<string> {
  const pb = require("protobufjs") as typeof protobuf;
  const seen = new Set<string>();
  const visit = (obj: protobuf.ReflectionObject): void => {
    const name = obj.fullName.slice(1);
    if (seen.has(name)) return;
    seen.add(name);
    // A nested type lives inside its parent's descriptor: keep the parent (and what it reaches).
    if (obj.parent instanceof pb.Type) visit(obj.parent);
    if (obj instanceof pb.Type) {
      for (const f of obj.fieldsArray) {
        f.resolve();
        if (f.resolvedType) visit(f.resolvedType);
      }
    }
  };
  for (const t of rootTypes) visit(root.lookupTypeOrEnum(t));
  return seen;
}

/** Every type, enum and service name in a root (without the leading dot). */
export function allNames(root: protobuf.Root): string[] {
  const pb = require("protobufjs") as typeof protobuf;
  const out: string[] = [];
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const n of ns.nestedArray) {
      if (n instanceof pb.Type || n instanceof pb.Enum || n instanceof pb.Service) out.push(n.fullName.slice(1));
      if (n instanceof pb.Namespace) walk(n);
    }
  };
  walk(root);
  return out.sort();
}

/** The descriptor JSON (protobufjs Root#toJSON form) of a root, limited to `keep` when given. */
export function descriptorJson(root: protobuf.Root, keep?: ReadonlySet<string>): Json {
  const json = JSON.parse(JSON.stringify(root.toJSON({ keepComments: false }))) as Json;
  const keepFn = keep ? (n: string) => keep.has(n) : () => true;
  const nested = isObj(json.nested) ? json.nested : {};
  for (const [k, child] of Object.entries(nested)) if (!isObj(child) || !cleanNode(child, k, keepFn)) delete nested[k];
  return { nested };
}

/**
 * Fields whose .proto name protoFieldName() does not recover from protobufjs' camelCase name (the
 * proxy's /config_dump prints .proto names): `root` must be parsed with keepCase. protobufjs' own
 * google/protobuf/*.proto are bundled as camelCase JSON, so that package is left out (the
 * converter prints its types in their special JSON forms anyway).
 */
export function protoNameMismatches(root: protobuf.Root): string[] {
  const pb = require("protobufjs") as typeof protobuf;
  const out: string[] = [];
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const n of ns.nestedArray) {
      if (n instanceof pb.Type && !n.fullName.startsWith(".google.protobuf.")) {
        for (const f of n.fieldsArray) if (protoFieldName(pb.util.camelCase(f.name)) !== f.name) out.push(`${n.fullName.slice(1)}.${f.name}`);
      }
      if (n instanceof pb.Namespace) walk(n);
    }
  };
  walk(root);
  return out;
}

/** Scalar and composite kinds of the compact wire schema (wire.ts). */
export const WIRE_KINDS = ["double", "float", "int32", "uint32", "sint32", "fixed32", "sfixed32", "int64", "uint64", "sint64", "fixed64", "sfixed64", "bool", "string", "bytes", "enum", "message"] as const;

/**
 * The compact schema wire.ts decodes and encodes the proxy's messages with (no protobufjs at run
 * time): per message type its fields sorted by number as [id, jsonName, kind, flags, ref, keyKind],
 * flags 1 = repeated, 2 = packed when encoding, 4 = map (kind/ref describe the value); ref indexes
 * `types` (messages) or `enums`; per enum its names by number (protobufjs' valuesById: the last
 * alias wins). Taken from protobufjs' own view of each field (resolved type, packing by edition
 * features), so both agree by construction; what wire.ts does not implement is refused here.
 */
export function wireSchema(root: protobuf.Root, names: ReadonlySet<string>): { types: unknown[]; enums: unknown[] } {
  const pb = require("protobufjs") as typeof protobuf;
  const opaque = (n: string): boolean => OPAQUE_WIRE_PACKAGES.some((p) => n.startsWith(p));
  const typeList = [...names].filter((n) => root.lookup(n) instanceof pb.Type && !opaque(n)).sort();
  const enumList = [...names].filter((n) => root.lookup(n) instanceof pb.Enum).sort();
  const typeIndex = new Map(typeList.map((n, i) => [n, i]));
  const enumIndex = new Map(enumList.map((n, i) => [n, i]));
  const kind = (k: string): number => {
    const i = (WIRE_KINDS as readonly string[]).indexOf(k);
    if (i < 0) throw new Error(`wire schema: unknown kind ${k}`);
    return i;
  };
  const types = typeList.map((n) => {
    const t = root.lookupType(n);
    const fields = t.fieldsArray
      .filter((f) => !f.declaringField)
      .sort((a, b) => a.id - b.id)
      .map((f) => {
        f.resolve();
        const where = `${n}.${f.name}`;
        if (f.required) throw new Error(`wire schema: ${where} is required (not supported)`);
        if (f.delimited) throw new Error(`wire schema: ${where} is a group (not supported)`);
        const rt0 = f.resolvedType;
        // A message the proxy never interprets stays raw bytes: present (so a filter can refuse it), never decoded.
        const asBytes = rt0 instanceof pb.Type && opaque(rt0.fullName.slice(1));
        const rt = asBytes ? null : rt0;
        const k = asBytes ? "bytes" : rt instanceof pb.Type ? "message" : rt instanceof pb.Enum ? "enum" : f.type;
        const ref = rt ? (rt instanceof pb.Type ? typeIndex.get(rt.fullName.slice(1)) : enumIndex.get(rt.fullName.slice(1))) : -1;
        if (ref === undefined) throw new Error(`wire schema: ${where} refers to ${rt!.fullName}, not in the set`);
        const flags = (f.repeated ? 1 : 0) | (f.repeated && f.packed ? 2 : 0) | (f.map ? 4 : 0);
        const out: unknown[] = [f.id, f.name, kind(k), flags, ref];
        if (f.map) {
          const keyType = (f as unknown as protobuf.MapField).keyType;
          if (keyType !== "string") throw new Error(`wire schema: ${where} has ${keyType} map keys (only string keys are supported)`);
          out.push(kind(keyType));
        }
        return out;
      });
    return [n, fields];
  });
  const enums = enumList.map((n) => {
    const e = root.lookup(n) as protobuf.Enum;
    return [n, Object.entries(e.valuesById).map(([num, name]) => [Number(num), name])];
  });
  return { types, enums };
}

export interface GeneratedDescriptors {
  /** File name under src/envoy/gen → TypeScript source. */
  files: Map<string, string>;
  fullTypes: number;
  proxyTypes: number;
  allOnlyTypes: number;
}

function moduleSource(comment: string, exports: Record<string, string>): string {
  let s = `// GENERATED by src/envoy/descriptor-gen.ts from the .proto files @grpc/grpc-js-xds ships — do not edit.\n// ${comment}\n`;
  for (const [name, value] of Object.entries(exports)) s += `export const ${name} =\n  ${JSON.stringify(value)};\n`;
  return s;
}

/** The checked-in descriptor modules, generated from the .proto files. */
export function generateDescriptors(root: protobuf.Root = loadProtoFiles(), v3: EnvoyV3Files = envoyV3Files(), all: protobuf.Root = loadAllProtoFiles(v3)): GeneratedDescriptors {
  const pb = require("protobufjs") as typeof protobuf;
  const proxy = reachableTypes(root, PROXY_ROOT_TYPES);
  const names = allNames(root);
  const inFull = new Set(names);
  const allOnly = allNames(all).filter((n) => !inFull.has(n));
  for (const n of names) if (!all.lookup(n)) throw new Error(`descriptors: ${n} is in the full set but not in the whole API`);
  for (const n of allOnly) {
    // A nested type travels with its parent: both must be in the same tier.
    const parent = all.lookup(n)!.parent;
    if (parent instanceof pb.Type && inFull.has(parent.fullName.slice(1))) throw new Error(`descriptors: ${n} is nested in ${parent.fullName}, which the full set has`);
  }
  const messagesOf = (list: readonly string[], r: protobuf.Root) => list.filter((n) => r.lookup(n) instanceof pb.Type).join(" ");
  const full = JSON.stringify(descriptorJson(root));
  const sub = JSON.stringify(descriptorJson(root, proxy));
  const files = new Map<string, string>();
  files.set("full-descriptor.cts", moduleSource("Every type of PROTO_FILES (protobufjs JSON descriptor).", { FULL_DESCRIPTOR: full }));
  files.set(
    "proxy-descriptor.cts",
    moduleSource("The types the proxy uses (PROXY_ROOT_TYPES and what they reach), and the names the full set adds (loaded on demand).", {
      PROXY_DESCRIPTOR: sub,
      FULL_ONLY_NAMES: names.filter((n) => !proxy.has(n)).join(" "),
    }),
  );
  files.set(
    "proxy-wire.cts",
    moduleSource("The proxy's types as wire.ts's compact schema (see wireSchema()), and the names only the full set has.", {
      PROXY_WIRE: JSON.stringify(wireSchema(root, proxy)),
      FULL_ONLY_NAMES: names.filter((n) => !proxy.has(n)).join(" "),
    }),
  );
  files.set(
    "all-descriptor.cts",
    moduleSource("The rest of Envoy's v3 API: the types no PROTO_FILES file has (loaded into the full set when a config names one).", {
      ALL_ONLY_DESCRIPTOR: JSON.stringify(descriptorJson(all, new Set(allOnly))),
    }),
  );
  files.set(
    "all-names.cts",
    moduleSource("Which message types each of the two larger tiers has, and the types no tier can have (why: a missing import).", {
      FULL_TYPES: messagesOf(names, root),
      ALL_ONLY_TYPES: messagesOf(allOnly, all),
      UNAVAILABLE: JSON.stringify(Object.fromEntries(v3.unavailable)),
    }),
  );
  files.set("types.ts", typesSource(root));
  return { files, fullTypes: names.length, proxyTypes: proxy.size, allOnlyTypes: allOnly.length };
}

/** Where the generated modules live in the source tree. */
export function genDir(): string {
  // dist/src/envoy → src/envoy/gen, or src/envoy → src/envoy/gen when run from source.
  const here = dirname(fileURLToPath(import.meta.url));
  const root = here.includes(`${join("dist", "src")}`) ? join(here, "..", "..", "..") : join(here, "..", "..");
  return join(root, "src", "envoy", "gen");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const v3 = envoyV3Files();
  const mismatches = protoNameMismatches(loadAllProtoFiles(v3, true));
  if (mismatches.length) throw new Error(`proto field names protoFieldName() gets wrong (record them): ${mismatches.join(", ")}`);
  const g = generateDescriptors(loadProtoFiles(), v3);
  const dir = genDir();
  for (const [name, text] of g.files) {
    writeFileSync(join(dir, name), text);
    console.log(`wrote ${join(dir, name)} (${(text.length / 1024).toFixed(0)} KiB)`);
  }
  console.log(`${g.fullTypes} names in the full set, ${g.proxyTypes} types and enums in the proxy's, ${g.allOnlyTypes} more in the whole API`);
}
