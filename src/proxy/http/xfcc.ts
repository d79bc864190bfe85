// The HTTP connection manager's x-forwarded-client-cert handling (Envoy's
// forward_client_cert_details / set_current_client_cert_details, conn_manager_utility.cc): a client
// can never pass its own XFCC to the upstream on a connection without a client certificate (it is
// removed, unless ALWAYS_FORWARD_ONLY); with one, SANITIZE removes it, FORWARD_ONLY keeps it,
// APPEND_FORWARD appends and SANITIZE_SET replaces it with this hop's element: By (the proxy's URI
// SANs), Hash (SHA-256 of the client certificate), then Cert, Chain, Subject, URI and DNS as
// configured.
import { X509Certificate } from "node:crypto";
import type * as http from "node:http";
import type * as tls from "node:tls";
import type { envoy } from "../../envoy/types.js";
import { XdsConfigError } from "../xds-error.js";
import { certificatesOf, fingerprint256, rfc2253, sansOf } from "./cert-fields.js";

type HcmMessage = envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;

export type XfccMode = "SANITIZE" | "FORWARD_ONLY" | "APPEND_FORWARD" | "SANITIZE_SET" | "ALWAYS_FORWARD_ONLY";

export interface XfccConfig {
  mode: XfccMode;
  subject: boolean;
  cert: boolean;
  chain: boolean;
  dns: boolean;
  uri: boolean;
}

const MODES: readonly XfccMode[] = ["SANITIZE", "FORWARD_ONLY", "APPEND_FORWARD", "SANITIZE_SET", "ALWAYS_FORWARD_ONLY"];

export function xfccConfig(c: HcmMessage, path: string): XfccConfig {
  const mode = c.forwardClientCertDetails ?? "SANITIZE";
  if (!MODES.includes(mode as XfccMode)) throw new XdsConfigError(`${path}.forwardClientCertDetails`, `unknown value ${String(mode)}`);
  const s = c.setCurrentClientCertDetails;
  return { mode: mode as XfccMode, subject: s?.subject?.value === true, cert: s?.cert === true, chain: s?.chain === true, dns: s?.dns === true, uri: s?.uri === true };
}

const XFCC = "x-forwarded-client-cert";

/** This hop's XFCC element for a connection with a client certificate. */
function element(cfg: XfccConfig, local: X509Certificate | undefined, peer: X509Certificate): string {
  const parts: string[] = [];
  for (const uri of sansOf(local?.subjectAltName, "URI")) parts.push(`By=${uri}`);
  parts.push(`Hash=${fingerprint256(peer)}`);
  if (cfg.cert) parts.push(`Cert="${encodeURIComponent(peer.toString())}"`);
  if (cfg.chain) {
    let chain = "";
    for (let c: X509Certificate | undefined = peer; c !== undefined; c = c.issuerCertificate) {
      chain += c.toString();
      if (c.issuerCertificate === c || c.checkIssued(c)) break;
    }
    parts.push(`Chain="${encodeURIComponent(chain)}"`);
  }
  if (cfg.subject) parts.push(`Subject="${rfc2253(peer.subject)}"`);
  if (cfg.uri) for (const u of sansOf(peer.subjectAltName, "URI")) parts.push(`URI=${u}`);
  if (cfg.dns) for (const d of sansOf(peer.subjectAltName, "DNS")) parts.push(`DNS=${d}`);
  return parts.join(";");
}

const elements = new WeakMap<tls.TLSSocket, Map<XfccConfig, string>>();

/** Applies the mode to a request's headers; `socket` is the TLS socket the request came on, if any. */
export function applyXfcc(cfg: XfccConfig, headers: http.OutgoingHttpHeaders, socket: tls.TLSSocket | undefined): void {
  if (cfg.mode === "ALWAYS_FORWARD_ONLY") return;
  const certs = socket !== undefined ? certificatesOf(socket) : undefined;
  const peer = certs?.peer;
  if (socket === undefined || certs === undefined || peer === undefined) {
    // Most requests carry none: a delete only where there is one keeps the object's shape.
    if (headers[XFCC] !== undefined) delete headers[XFCC];
    return;
  }
  if (cfg.mode === "FORWARD_ONLY") return;
  if (cfg.mode === "SANITIZE") {
    delete headers[XFCC];
    return;
  }
  // This hop's element depends only on the connection and the config: built once per connection.
  let byConfig = elements.get(socket);
  if (byConfig === undefined) elements.set(socket, (byConfig = new Map()));
  let mine = byConfig.get(cfg);
  if (mine === undefined) byConfig.set(cfg, (mine = element(cfg, certs.local, peer)));
  const had = headers[XFCC];
  headers[XFCC] = cfg.mode === "APPEND_FORWARD" && had !== undefined && had !== "" ? `${Array.isArray(had) ? had.join(",") : String(had)},${mine}` : mine;
}
