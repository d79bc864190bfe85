// What Envoy reads out of a connection's certificates for headers and logs: URI and DNS SANs, the
// subject in RFC 2253 order, serial, SHA-256 fingerprint and validity — shared by the XFCC element
// and the substitution formatter's DOWNSTREAM_PEER_* / DOWNSTREAM_LOCAL_* / DOWNSTREAM_TLS_* commands.
import type { X509Certificate } from "node:crypto";
import type * as tls from "node:tls";

/**
 * Envoy's RFC 2253 rendering of a certificate subject (the most specific name first, comma-separated).
 * An empty subject (Istio's SVIDs have none; node then reports `undefined`) renders as "".
 */
export function rfc2253(subject: string | undefined): string {
  return subject ? subject.split("\n").filter(Boolean).reverse().join(",") : "";
}

/** `URI:spiffe://…, DNS:a.example` → the values of one kind. */
export function sansOf(altNames: string | undefined, kind: "URI" | "DNS"): string[] {
  if (!altNames) return [];
  return altNames
    .split(", ")
    .filter((s) => s.startsWith(`${kind}:`))
    .map((s) => s.slice(kind.length + 1));
}

/** A connection's certificates, parsed once (Envoy caches them with the connection's SSL info). */
interface ConnectionCertificates {
  peer: X509Certificate | undefined;
  local: X509Certificate | undefined;
}

const connectionCertificates = new WeakMap<tls.TLSSocket, ConnectionCertificates>();

/**
 * The peer's and our certificate on a downstream TLS connection, parsed on first use and kept with
 * the socket: a request must not pay two X.509 parses (the listener disables renegotiation, so
 * they cannot change).
 */
export function certificatesOf(socket: tls.TLSSocket): ConnectionCertificates {
  let c = connectionCertificates.get(socket);
  if (c === undefined) connectionCertificates.set(socket, (c = { peer: socket.getPeerX509Certificate(), local: socket.getX509Certificate() }));
  return c;
}

/** Envoy's SHA-256 fingerprint form: lower-case hex without separators. */
export function fingerprint256(c: X509Certificate): string {
  return c.fingerprint256.replace(/:/g, "").toLowerCase();
}

/** The formatter's TLS commands this module answers. */
export const TLS_COMMANDS: ReadonlySet<string> = new Set([
  "DOWNSTREAM_PEER_URI_SAN",
  "DOWNSTREAM_LOCAL_URI_SAN",
  "DOWNSTREAM_PEER_DNS_SAN",
  "DOWNSTREAM_LOCAL_DNS_SAN",
  "DOWNSTREAM_PEER_SUBJECT",
  "DOWNSTREAM_LOCAL_SUBJECT",
  "DOWNSTREAM_PEER_ISSUER",
  "DOWNSTREAM_PEER_SERIAL",
  "DOWNSTREAM_PEER_FINGERPRINT_256",
  "DOWNSTREAM_PEER_CERT_V_START",
  "DOWNSTREAM_PEER_CERT_V_END",
  "DOWNSTREAM_TLS_VERSION",
  "DOWNSTREAM_TLS_CIPHER",
]);

/** One TLS command's value for a downstream TLS socket ("" on plaintext or when there is no such certificate). */
export function tlsCommandValue(command: string, socket: tls.TLSSocket | undefined): string {
  if (socket === undefined) return "";
  switch (command) {
    case "DOWNSTREAM_TLS_VERSION":
      return socket.getProtocol() ?? "";
    case "DOWNSTREAM_TLS_CIPHER":
      return socket.getCipher()?.standardName ?? "";
  }
  const certs = certificatesOf(socket);
  const cert = command.startsWith("DOWNSTREAM_LOCAL_") ? certs.local : certs.peer;
  if (cert === undefined) return "";
  switch (command) {
    case "DOWNSTREAM_PEER_URI_SAN":
    case "DOWNSTREAM_LOCAL_URI_SAN":
      return sansOf(cert.subjectAltName, "URI").join(",");
    case "DOWNSTREAM_PEER_DNS_SAN":
    case "DOWNSTREAM_LOCAL_DNS_SAN":
      return sansOf(cert.subjectAltName, "DNS").join(",");
    case "DOWNSTREAM_PEER_SUBJECT":
    case "DOWNSTREAM_LOCAL_SUBJECT":
      return rfc2253(cert.subject);
    case "DOWNSTREAM_PEER_ISSUER":
      return rfc2253(cert.issuer as string | undefined);
    case "DOWNSTREAM_PEER_SERIAL":
      return cert.serialNumber.toLowerCase();
    case "DOWNSTREAM_PEER_FINGERPRINT_256":
      return fingerprint256(cert);
    case "DOWNSTREAM_PEER_CERT_V_START":
      return new Date(cert.validFrom).toISOString();
    case "DOWNSTREAM_PEER_CERT_V_END":
      return new Date(cert.validTo).toISOString();
  }
  return "";
}
