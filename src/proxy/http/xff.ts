// Envoy's downstream remote address for a request (ConnectionManagerUtility::mutateRequestHeaders):
// the client address the HCM trusts, which RBAC's remote_ip principal and the access log read.
// With use_remote_address, it is the address xff_num_trusted_hops (N > 0) trusted proxies put in
// X-Forwarded-For — the Nth from the right, read before the HCM appends its own peer — else the
// socket's peer. Without use_remote_address, it is the (N+1)th address from the right of
// X-Forwarded-For (Envoy's default XFF original-IP detection), else the socket's peer. An entry that
// is no IP address, or too few entries, falls back to the peer, as Envoy's getLastAddressFromXFF.
import { ipFamily } from "../cidr.js";

/**
 * The address `skip` entries from the right end of an X-Forwarded-For value (entries split on ",",
 * blanks trimmed), or undefined when there are too few or it is no IP address.
 */
export function lastAddressFromXff(xff: string | undefined, skip: number): string | undefined {
  if (xff === undefined) return undefined;
  let end = xff.length;
  for (let i = 0; i < skip; i++) {
    const comma = xff.lastIndexOf(",", end - 1);
    if (comma < 0 || end === 0) return undefined;
    end = comma;
  }
  let start = 0;
  const comma = end === 0 ? -1 : xff.lastIndexOf(",", end - 1);
  // (A trailing "," leaves the whole text, which then fails to parse: Envoy's rule.)
  if (comma >= 0 && comma + 1 < end) start = comma + 1;
  const addr = xff.slice(start, end).trim();
  return ipFamily(addr) === 0 ? undefined : addr;
}

/** The request's downstream remote address (see the header). */
export function downstreamRemoteAddress(useRemoteAddress: boolean, xffNumTrustedHops: number, xff: string | undefined, peer: string): string {
  if (xffNumTrustedHops === 0 && useRemoteAddress) return peer;
  const trusted = lastAddressFromXff(xff, useRemoteAddress ? xffNumTrustedHops - 1 : xffNumTrustedHops);
  return trusted ?? peer;
}
