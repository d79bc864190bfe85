// Generator of src/envoy/gen/types.ts: TypeScript types for every message and enum of the full
// schema (PROTO_FILES and what they import), in exactly the form the project's objects have at run
// time — protobufjs' camelCase "typed object" form that protos.ts and wire.ts decode to and encode
// from (TO_OBJECT: enums as names, 64-bit integers as numbers, bytes as Buffers, defaults left
// out). descriptor-gen.ts writes the file; test/envoy/descriptors.test.ts keeps it in sync.
//
// The file is type-only (interfaces, unions, namespaces mirroring the proto packages: no
// JavaScript). google.protobuf.Any is a union keyed by "@type": per message type one interface,
// its fields plus `"@type": "type.googleapis.com/NAME"`, so the fields of an inline literal are
// checked against the type its "@type" names; the raw `{ type_url, value }` form (a payload of a
// type no schema knows) is the last member. The members are interfaces rather than intersections
// because TypeScript then indexes the union by its literal "@type" (fast to check).
import type * as protobuf from "protobufjs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

const ANY = "google.protobuf.Any";
const TYPE_URL_PREFIX = "type.googleapis.com/";

/** TypeScript's spelling of each scalar proto type in typed-object form. */
export const SCALAR_TS_TYPES: Readonly<Record<string, "number" | "boolean" | "string" | "Uint8Array">> = {
  double: "number",
  float: "number",
  int32: "number",
  uint32: "number",
  sint32: "number",
  fixed32: "number",
  sfixed32: "number",
  // TO_OBJECT's `longs: Number` (wire.ts does the same); encoding also takes decimal strings.
  int64: "number",
  uint64: "number",
  sint64: "number",
  fixed64: "number",
  sfixed64: "number",
  bool: "boolean",
  string: "string",
  // Decoding gives a Buffer, a Uint8Array.
  bytes: "Uint8Array",
};

/** Names the generated file declares at its top level besides the package roots. */
const TOP_LEVEL = ["Messages", "TypeUrl", "AnyOf", "KnownAny", "RawAny", "AnyForms", "AnyForm"];

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const prop = (name: string): string => (IDENT.test(name) ? name : JSON.stringify(name));
/** The AnyForm interface of a message type. */
const anyFormName = (full: string): string => full.replace(/\./g, "_");

interface Scope {
  lines: string[];
  children: Map<string, Scope>;
}

/**
 * The TypeScript source of the types of every message and enum in `root`. Throws when a reference
 * could be captured by a nearer declaration of the same name (types are named by full path).
 */
export function typesSource(root: protobuf.Root): string {
  const pb = require("protobufjs") as typeof protobuf;
  const top: Scope = { lines: [], children: new Map() };
  const declared = new Set<string>();
  const messages: string[] = [];
  /** [referring type, referenced type] */
  const refs: Array<[string, string]> = [];

  const scopeOf = (path: string[]): Scope => {
    let s = top;
    for (const p of path) {
      let c = s.children.get(p);
      if (!c) s.children.set(p, (c = { lines: [], children: new Map() }));
      s = c;
    }
    return s;
  };

  const fieldLine = (f: protobuf.Field, owner: string): string => {
    f.resolve();
    let t: string;
    if (f.resolvedType) {
      t = f.resolvedType.fullName.slice(1);
      refs.push([owner, t]);
    } else {
      t = SCALAR_TS_TYPES[f.type];
      if (!t) throw new Error(`types: ${owner}.${f.name} has scalar type ${f.type}, which has no mapping`);
    }
    if (f.map) return `${prop(f.name)}?: { [key: string]: ${t} };`;
    return `${prop(f.name)}?: ${t}${f.repeated ? "[]" : ""};`;
  };

  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const n of ns.nestedArray) {
      if (n instanceof pb.Service) continue;
      const full = n.fullName.slice(1);
      const path = full.split(".");
      const name = path[path.length - 1];
      const scope = scopeOf(path.slice(0, -1));
      declared.add(full);
      if (n instanceof pb.Type) {
        if (full === ANY) {
          scope.lines.push(
            `/** An Any: "@type" beside the payload's fields, or { type_url, value } when no schema has the payload's type. */`,
            `export type ${name} = KnownAny | RawAny;`,
          );
        } else {
          messages.push(full);
          const body = n.fieldsArray.filter((f) => !f.declaringField).map((f) => fieldLine(f, full));
          scope.lines.push(body.length ? `export interface ${name} {\n  ${body.join("\n  ")}\n}` : `export interface ${name} {}`);
        }
        walk(n);
      } else if (n instanceof pb.Enum) {
        scope.lines.push(`export type ${name} = ${Object.keys(n.values).map((v) => JSON.stringify(v)).join(" | ")};`);
      } else if (n instanceof pb.Namespace) walk(n);
    }
  };
  walk(root);

  // A reference a.b.C from inside x.y.Z resolves `a` in the nearest scope declaring it, so none of
  // x.a, x.y.a, x.y.Z.a may exist; nor may a package share a name with the top-level helpers.
  for (const [from, to] of refs) {
    const head = to.split(".")[0];
    const parts = from.split(".");
    for (let i = 1; i <= parts.length; i++) {
      const shadow = `${parts.slice(0, i).join(".")}.${head}`;
      if (declared.has(shadow)) throw new Error(`types: ${shadow} would capture the reference to ${to} in ${from}`);
    }
  }
  const forms = new Set(messages.map(anyFormName));
  if (forms.size !== messages.length || [...forms].some((f) => declared.has(f))) throw new Error("types: two message types share an AnyForm name");
  for (const t of TOP_LEVEL) if (declared.has(t) || declared.has(`google.${t}`) || declared.has(`google.protobuf.${t}`)) throw new Error(`types: a proto name clashes with ${t}`);

  const emit = (scope: Scope, indent: string, out: string[]): void => {
    for (const l of scope.lines) out.push(indent + l.replace(/\n/g, `\n${indent}`));
    for (const [name, child] of scope.children) {
      out.push(`${indent}export namespace ${name} {`);
      emit(child, indent + "  ", out);
      out.push(`${indent}}`);
    }
  };

  const out: string[] = [
    "// GENERATED by src/envoy/types-gen.ts (run by descriptor-gen.ts) from the .proto files @grpc/grpc-js-xds ships — do not edit.",
    "// Every message and enum of the full schema as the project's typed objects are at run time: fields camelCase as",
    "// protobufjs names them, all optional; enums as names; 64-bit integers as numbers; bytes as Uint8Array; maps as",
    "// objects; an Any as { \"@type\": URL, ...fields }. Not in these types: an enum value the schema does not know",
    "// (decoded as its number) and a non-finite float (decoded as \"NaN\", \"Infinity\", \"-Infinity\").",
    "/* eslint-disable @typescript-eslint/no-namespace, @typescript-eslint/no-empty-object-type */",
    "",
    "/** Every message type by full name. */",
    "export interface Messages {",
    ...messages.map((m) => `  ${JSON.stringify(m)}: ${m};`),
    "}",
    "",
    "/** The type URL of a message type. */",
    `export type TypeUrl<N extends keyof Messages = keyof Messages> = \`${TYPE_URL_PREFIX}\${N}\`;`,
    "",
    "/** An Any holding a message of type N: the message's fields beside \"@type\". */",
    "export type AnyOf<N extends keyof Messages> = AnyForms[N];",
    "",
    "/** An Any of any message type of this schema. */",
    "export type KnownAny = AnyForms[keyof AnyForms];",
    "",
    "/** An Any whose payload's type no loaded schema has: its type URL and encoded bytes. */",
    "export interface RawAny {",
    "  \"@type\"?: undefined;",
    "  type_url?: string;",
    "  value?: Uint8Array;",
    "}",
    "",
    "/** Per message type, its Any form. */",
    "export interface AnyForms {",
    ...messages.map((m) => `  ${JSON.stringify(m)}: AnyForm.${anyFormName(m)};`),
    "}",
    "",
    "export namespace AnyForm {",
    ...messages.map((m) => `  export interface ${anyFormName(m)} extends ${m} { "@type": ${JSON.stringify(TYPE_URL_PREFIX + m)} }`),
    "}",
    "",
  ];
  emit(top, "", out);
  return out.join("\n") + "\n";
}
