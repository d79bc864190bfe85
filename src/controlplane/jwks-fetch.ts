// One bounded HTTP(S) GET for istiod's JWKS resolver (Istio's getRemoteContentWithRetry without the
// retries): a deadline for the whole exchange (redirects included), a cap on the body, no
// keep-alive, redirects followed as Go's client does (at most 10), system CAs for https, and
// link-local addresses (cloud metadata endpoints) refused as Istio's blockedCIDRDialContext does.
// Non-2xx answers fail with Istio's "status N, message …" text.
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import http from "node:http";
import https from "node:https";
import { isIP, type LookupFunction } from "node:net";

/** The most a JWKS or OpenID discovery document may be (a JWKS of a few keys is a few KiB). */
export const DEFAULT_MAX_JWKS_BYTES = 512 * 1024;
const MAX_REDIRECTS = 10;

export class JwksFetchError extends Error {}

/** Link-local (169.254/16, fe80::/10) and the well-known metadata address outside it (fd00:ec2::254). */
export function blockedAddress(ip: string): boolean {
  const v = ip.toLowerCase();
  if (isIP(v) === 4) return v.startsWith("169.254.");
  if (isIP(v) === 6) {
    if (/^fe[89ab][0-9a-f]:/.test(v)) return true;
    if (v === "fd00:ec2::254") return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(v);
    return mapped ? blockedAddress(mapped[1]) : false;
  }
  return false;
}

/** dns.lookup that refuses blocked addresses (checked at connect time, so a DNS answer cannot sneak one in). */
const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, "", 0);
    const list = (addresses as LookupAddress[]).filter((a) => !blockedAddress(a.address));
    if (list.length === 0) return callback(new JwksFetchError(`connection blocked: ${hostname} resolves only to link-local addresses`), "", 0);
    if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
    callback(null, list[0].address, list[0].family);
  });
};

/** GETs `uri`; resolves with the body, rejects with a message fit for a log line. */
export function fetchBounded(uri: string, timeoutMs: number, maxBytes = DEFAULT_MAX_JWKS_BYTES): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  return get(uri, deadline, maxBytes, 0);
}

function get(uri: string, deadline: number, maxBytes: number, redirects: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      return reject(new JwksFetchError(`${JSON.stringify(uri)} is not a URL`));
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return reject(new JwksFetchError(`URI scheme ${JSON.stringify(url.protocol.slice(0, -1))} is not supported`));
    const host = url.hostname.replace(/^\[|\]$/g, "");
    if (blockedAddress(host)) return reject(new JwksFetchError(`connection blocked: ${host} is link-local`));
    const remaining = deadline - Date.now();
    if (remaining <= 0) return reject(new JwksFetchError(`timed out after the deadline`));
    const mod = url.protocol === "https:" ? https : http;
    const req = mod.request(url, { method: "GET", agent: false, lookup: guardedLookup, headers: { accept: "application/json", connection: "close" } });
    let done = false;
    const fail = (e: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      reject(e instanceof JwksFetchError ? e : new JwksFetchError(e.message));
    };
    const timer = setTimeout(() => fail(new JwksFetchError(`no complete answer within ${Math.round(remaining)} ms`)), remaining);
    req.on("error", fail);
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects >= MAX_REDIRECTS) return fail(new JwksFetchError(`stopped after ${MAX_REDIRECTS} redirects`));
        done = true;
        clearTimeout(timer);
        req.destroy();
        get(new URL(res.headers.location, url).toString(), deadline, maxBytes, redirects + 1).then(resolve, reject);
        return;
      }
      const declared = Number(res.headers["content-length"]);
      if (Number.isFinite(declared) && declared > maxBytes) return fail(new JwksFetchError(`response of ${declared} bytes is larger than ${maxBytes}`));
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) return fail(new JwksFetchError(`response is larger than ${maxBytes} bytes`));
        chunks.push(c);
      });
      res.on("error", fail);
      res.on("end", () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        const body = Buffer.concat(chunks).toString("utf8");
        if (status < 200 || status >= 300) {
          const quoted = JSON.stringify(body);
          reject(new JwksFetchError(quoted.length > 100 ? `status ${status}, message ${quoted.slice(0, 100)}(truncated)` : `status ${status}, message ${quoted}`));
        } else resolve(body);
      });
    });
    req.end();
  });
}
