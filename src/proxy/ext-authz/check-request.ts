// The CheckRequest's AttributeContext as Envoy's CheckRequestUtils builds it, shared by the HTTP and
// network ext_authz filters: source and destination peers (address; principal = the first URI SAN
// of the peer's / our certificate, else its subject; the peer certificate URL-encoded PEM when
// include_peer_certificate), the TLS session's SNI, and for HTTP the request (a random stream id,
// method, pseudo-headers and headers joined with "," as Envoy's map does, path, host, scheme,
// protocol, size, the buffered body), context extensions and metadata context.
import { randomBytes } from "node:crypto";
import type * as http from "node:http";
import type * as net from "node:net";
import * as tls from "node:tls";
import type { Address, envoy, Struct } from "../../envoy/types.js";
import { struct, type JsonValue } from "../../envoy/protos.js";
import type { DynamicMetadata } from "../dynamic-metadata.js";
import { certificatesOf, rfc2253, sansOf } from "../http/cert-fields.js";
import type { ConnectionInfo } from "../listener-spec.js";

type AttributeContext = envoy.service.auth.v3.AttributeContext;
type Peer = envoy.service.auth.v3.AttributeContext.Peer;
type Metadata = envoy.config.core.v3.Metadata;

/** What the peers are built from: the connection's addresses and, with TLS, its certificates. */
export interface PeerSource {
  readonly connection: ConnectionInfo;
  readonly socket: net.Socket | undefined;
}

export interface PeerOptions {
  includePeerCertificate: boolean;
  includeTlsSession: boolean;
}

function address(ip: string, port: number): Address {
  return { socketAddress: { address: ip, portValue: port } };
}

/** The first URI SAN, else the RFC 2253 subject (Envoy's uriSan*Certificate / subject*Certificate). */
function principalOf(cert: { subjectAltName?: string; subject: string } | undefined): string {
  if (cert === undefined) return "";
  return sansOf(cert.subjectAltName, "URI")[0] ?? rfc2253(cert.subject);
}

/** Source (downstream) and destination (this proxy) peers, and the TLS session when asked. */
export function peers(src: PeerSource, o: PeerOptions, service?: string): Pick<AttributeContext, "source" | "destination" | "tlsSession"> {
  const c = src.connection;
  const source: Peer = { address: address(c.remoteAddress, c.remotePort) };
  const destination: Peer = { address: address(c.localAddress, c.localPort) };
  const out: Pick<AttributeContext, "source" | "destination" | "tlsSession"> = { source, destination };
  if (service) source.service = service;
  const s = src.socket;
  if (s instanceof tls.TLSSocket) {
    const certs = certificatesOf(s);
    const p = principalOf(certs.peer);
    if (p) source.principal = p;
    const l = principalOf(certs.local);
    if (l) destination.principal = l;
    if (o.includePeerCertificate && certs.peer !== undefined) source.certificate = encodeURIComponent(certs.peer.toString());
    const sni = (s as tls.TLSSocket & { servername?: string | false }).servername;
    if (o.includeTlsSession && typeof sni === "string" && sni !== "") out.tlsSession = { sni };
  }
  return out;
}

/** A request's view for the check (FilterRequest's fields). */
export interface HttpCheckSource {
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly scheme: string;
  readonly protocol: string;
  readonly headers: http.OutgoingHttpHeaders;
}

export interface HttpCheckOptions {
  /** Which request headers go into the check (undefined: all). */
  headerAllowed: (name: string) => boolean;
  /** The buffered body, when with_request_body buffered one. */
  body?: Buffer;
  /** x-envoy-auth-partial-body: the body was cut at max_request_bytes. */
  partial?: boolean;
  packAsBytes: boolean;
  contextExtensions?: Readonly<Record<string, string>>;
  metadataContext?: Metadata;
}

function headerValue(v: http.OutgoingHttpHeader): string {
  return Array.isArray(v) ? v.join(",") : String(v);
}

/** A random 64-bit stream id in decimal (Envoy's stream id). */
function streamId(): string {
  return randomBytes(8).readBigUInt64BE().toString();
}

/** request.http (+ time) of an HTTP check. */
export function httpRequest(r: HttpCheckSource, o: HttpCheckOptions, nowMs: number): envoy.service.auth.v3.AttributeContext.Request {
  const headers: Record<string, string> = {};
  const add = (k: string, v: string): void => {
    if (o.headerAllowed(k)) headers[k] = v;
  };
  add(":authority", r.authority);
  add(":method", r.method);
  add(":path", r.path);
  add(":scheme", r.scheme);
  for (const [k, v] of Object.entries(r.headers)) if (v !== undefined) add(k, headerValue(v));
  if (o.body !== undefined) headers["x-envoy-auth-partial-body"] = o.partial === true ? "true" : "false";
  const h: envoy.service.auth.v3.AttributeContext.HttpRequest = {
    id: streamId(),
    method: r.method,
    headers,
    path: r.path,
    host: r.authority,
    scheme: r.scheme,
    protocol: r.protocol,
  };
  if (o.body !== undefined) {
    h.size = o.body.length;
    if (o.packAsBytes) h.rawBody = o.body;
    else h.body = o.body.toString("utf8");
  }
  return { time: { seconds: Math.floor(nowMs / 1000), nanos: (nowMs % 1000) * 1e6 }, http: h };
}

/** metadata_context: the listed namespaces of the stream's (then the connection's) dynamic metadata. */
export function metadataContext(namespaces: readonly string[], sources: readonly (DynamicMetadata | undefined)[]): Metadata | undefined {
  if (namespaces.length === 0) return undefined;
  const filterMetadata: Record<string, Struct> = {};
  for (const ns of namespaces) {
    for (const md of sources) {
      const fields = md?.get(ns);
      if (fields !== undefined) {
        filterMetadata[ns] = struct(fields as { [k: string]: JsonValue });
        break;
      }
    }
  }
  return { filterMetadata };
}
