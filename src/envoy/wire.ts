// The proxy's protobuf codec: decodes the xDS it receives and encodes the discovery requests it
// sends without protobufjs, from the compact schema descriptor-gen.ts generates for the proxy's
// types (gen/proxy-wire.cts). A sidecar thus never loads protobufjs (~30 ms), builds no reflection
// tree (~20 ms, ~2 MB) and generates no per-type code (~45 ms) at start-up.
//
// The result is exactly protos.ts' decodeMessage()/encodeMessage() — protobufjs' decode + toObject
// with TO_OBJECT ({ enums: String, longs: Number, json: true, defaults: false }) and fromObject +
// encode — key order included; test/envoy/wire.test.ts checks it field for field and byte for
// byte against protobufjs on every golden resource and on random messages of every type. In
// particular: fields appear in field-number order and only when present on the wire (a zero sent
// explicitly is kept); enums are names (numbers when unknown); 64-bit integers are numbers; non-finite
// floats are strings; bytes are Buffers sharing the input; an Any is { ...fields, "@type" } when its
// type is known — from the full schema or the rest of Envoy's API (protobufjs, protos.ts' larger
// tiers) when only those have it — and { type_url, value } otherwise. Types outside the compact
// schema are handed to protos.ts; unpackAny() decodes a raw Any by its URL or names it unknown.
//
// The codec's pieces: wire-schema.ts (the compact schema, loaded on first use), wire-decode.ts and
// wire-encode.ts; this module is their public API.
export { wireDecode, unpackAny } from "./wire-decode.js";
export { wireEncode } from "./wire-encode.js";
export { wireHas, wireLoaded } from "./wire-schema.js";
