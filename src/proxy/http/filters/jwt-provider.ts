// One jwt_authn JwtProvider compiled (Envoy's JwksCache::JwksData + its Extractor): what a token
// from it must satisfy (issuer, audiences, subjects, lifetime, clock skew), where its tokens are
// (from_headers with value_prefix, from_params, from_cookies; else Authorization "Bearer " and the
// access_token query parameter), what a verified token leaves behind (forward, payload header,
// claim headers, metadata), its JWKS (local_jwks read once, or remote_jwks fetched through a
// cluster with the async client and kept for cache_duration), and its JWT cache.
import type * as http from "node:http";
import { durationMs } from "../../../envoy/protos.js";
import type { envoy } from "../../../envoy/types.js";
import type { Clock } from "../../../core/clock.js";
import type { Counter, StatsScope } from "../../stats.js";
import { dataSource } from "../../tls/common.js";
import { XdsConfigError } from "../../xds-error.js";
import { asyncHttpCall } from "../async-client.js";
import type { FilterRuntime } from "../filter.js";
import { firstQueryParameter, StringMatcher } from "../matchers/matchers.js";
import { cookieValue } from "../route-glue.js";
import { type Jwks, MAX_JWKS_BYTES, parseJwks } from "./jwt-jwks.js";
import type { Jwt } from "./jwt-token.js";

/** Envoy's default remote JWKS cache duration (10 minutes). */
const DEFAULT_CACHE_MS = 10 * 60 * 1000;
/** Envoy's default async_fetch failed_refetch_duration (1 s). */
const DEFAULT_REFETCH_MS = 1000;
/** Envoy's default jwt_cache_size. */
const DEFAULT_JWT_CACHE_SIZE = 100;
/** The most tokens one provider's cache keeps, whatever the config asks. */
const MAX_JWT_CACHE_SIZE = 10_000;

/** Where one provider looks for tokens. */
export type TokenLocation =
  | { readonly kind: "header"; readonly name: string; readonly prefix: string }
  | { readonly kind: "param"; readonly name: string }
  | { readonly kind: "cookie"; readonly name: string };

/** A token found in a request, and where. */
export interface FoundToken {
  readonly token: string;
  readonly location: TokenLocation;
  /** Issuers whose providers name this location ("" = a provider without issuer: any). */
  readonly issuers: ReadonlySet<string>;
}

export interface JwtAuthnStats {
  allowed: Counter;
  denied: Counter;
  corsPreflightBypassed: Counter;
  jwksFetchSuccess: Counter;
  jwksFetchFailed: Counter;
  jwtCacheHit: Counter;
  jwtCacheMiss: Counter;
}

/** The filter's counters under `http.<prefix>.jwt_authn.` (`scope` is that prefix). */
export function jwtAuthnStats(s: StatsScope): JwtAuthnStats {
  return {
    allowed: s.counter("allowed"),
    denied: s.counter("denied"),
    corsPreflightBypassed: s.counter("cors_preflight_bypassed"),
    jwksFetchSuccess: s.counter("jwks_fetch_success"),
    jwksFetchFailed: s.counter("jwks_fetch_failed"),
    jwtCacheHit: s.counter("jwt_cache_hit"),
    jwtCacheMiss: s.counter("jwt_cache_miss"),
  };
}

/** What a provider needs at run time: clusters to fetch from, time, stats. */
export interface ProviderRuntime {
  readonly runtime: FilterRuntime;
  readonly clock: Clock;
  /** Wall-clock milliseconds (token times). */
  readonly wallNow: () => number;
  readonly stats: JwtAuthnStats;
}

/** A remote JWKS: fetched through `cluster`, kept for `cacheMs`, fetches shared by the requests waiting. */
export class RemoteJwks {
  private jwks: Jwks | undefined = undefined;
  private expiresAt = 0;
  private inflight: Promise<Jwks | undefined> | undefined = undefined;
  /** Set while an async_fetch refetch timer is armed. */
  private timer: unknown = undefined;
  private closed = false;

  constructor(
    readonly uri: { readonly cluster: string; readonly authority: string; readonly path: string; readonly scheme: string },
    readonly timeoutMs: number,
    readonly cacheMs: number,
    private readonly rt: ProviderRuntime,
  ) {}

  /** The cached set while it is fresh. */
  current(): Jwks | undefined {
    return this.jwks !== undefined && this.rt.clock.now() < this.expiresAt ? this.jwks : undefined;
  }

  /** Fetches (or joins the fetch in flight); undefined when the fetch failed (Envoy's JwksFetchFail). */
  fetch(): Promise<Jwks | undefined> {
    this.inflight ??= this.doFetch().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  /**
   * async_fetch: fetch now, again when the set expires, and after failed_refetch_duration on a
   * failure. The timer holds the source weakly: once the config that owns it is gone, it stops.
   */
  startAsyncFetch(refetchMs: number): void {
    const ref = new WeakRef(this);
    const clock = this.rt.clock;
    const run = (): void => {
      const self = ref.deref();
      if (self === undefined || self.closed) return;
      self.timer = undefined;
      void self.fetch().then((j) => {
        if (!self.closed) self.timer = clock.setTimeout(run, j === undefined ? refetchMs : self.cacheMs);
      });
    };
    run();
  }

  /** Stops async_fetch's timer (the config was replaced). */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.rt.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async doFetch(): Promise<Jwks | undefined> {
    const cluster = this.rt.runtime.cluster(this.uri.cluster);
    let jwks: Jwks | undefined;
    if (cluster !== undefined) {
      try {
        const r = await asyncHttpCall(this.rt.runtime.router, cluster, {
          method: "GET",
          path: this.uri.path,
          authority: this.uri.authority,
          scheme: this.uri.scheme,
          headers: {},
          timeoutMs: this.timeoutMs,
          maxResponseBytes: MAX_JWKS_BYTES,
        }).response;
        if (r.status === 200) {
          const parsed = parseJwks(r.body);
          if (typeof parsed !== "number") jwks = parsed;
        }
      } catch {
        jwks = undefined;
      }
    }
    if (jwks === undefined) {
      this.rt.stats.jwksFetchFailed.inc();
      return undefined;
    }
    this.rt.stats.jwksFetchSuccess.inc();
    this.jwks = jwks;
    this.expiresAt = this.rt.clock.now() + this.cacheMs;
    return jwks;
  }
}

/** Envoy's JwtCache: verified tokens by their text, bounded, dropped once expired. */
class JwtCache {
  private readonly map = new Map<string, Jwt>();
  constructor(private readonly size: number) {}

  lookup(token: string, nowSec: number): Jwt | undefined {
    const j = this.map.get(token);
    if (j === undefined) return undefined;
    if (j.exp && nowSec > j.exp) {
      this.map.delete(token);
      return undefined;
    }
    return j;
  }

  insert(jwt: Jwt): void {
    if (this.size <= 0) return;
    if (this.map.size >= this.size) this.map.delete(this.map.keys().next().value as string);
    this.map.set(jwt.token, jwt);
  }
}

/** A compiled JwtProvider. */
export class JwtProvider {
  readonly audiences: readonly string[];
  readonly subjects: StringMatcher | undefined;
  /** Seconds a token may still live (max_lifetime), Infinity for require_expiration, undefined: no limit. */
  readonly maxLifetimeSec: number | undefined;
  readonly clockSkewSec: number;
  readonly locations: readonly TokenLocation[];
  readonly forward: boolean;
  readonly forwardPayloadHeader: string;
  readonly padForwardPayloadHeader: boolean;
  readonly payloadInMetadata: string;
  readonly spaceDelimitedClaims: readonly string[];
  readonly headerInMetadata: string;
  readonly failedStatusInMetadata: string;
  readonly claimToHeaders: ReadonlyArray<{ readonly header: string; readonly claim: readonly string[] }>;
  readonly clearRouteCache: boolean;
  /** Request headers only this filter may set (forward_payload_header, claim_to_headers): removed first. */
  readonly sanitize: readonly string[];
  /** The local set (undefined: none, or an invalid one as Envoy keeps it: no key verifies). */
  readonly localJwks: Jwks | undefined;
  readonly remote: RemoteJwks | undefined;
  readonly cache: JwtCache;

  constructor(
    readonly name: string,
    p: envoy.extensions.filters.http.jwt_authn.v3.JwtProvider,
    path: string,
    rt: ProviderRuntime,
  ) {
    this.audiences = p.audiences ?? [];
    this.subjects = p.subjects ? StringMatcher.compile(p.subjects, `${path}.subjects`) : undefined;
    const maxLife = durationMs(p.maxLifetime);
    this.maxLifetimeSec = maxLife !== undefined ? maxLife / 1000 : p.requireExpiration ? Infinity : undefined;
    this.clockSkewSec = p.clockSkewSeconds ? p.clockSkewSeconds : 60;
    const locs: TokenLocation[] = [];
    (p.fromHeaders ?? []).forEach((h, i) => {
      if (!h.name) throw new XdsConfigError(`${path}.fromHeaders[${i}].name`, "header name must not be empty");
      locs.push({ kind: "header", name: h.name.toLowerCase(), prefix: h.valuePrefix ?? "" });
    });
    for (const q of p.fromParams ?? []) locs.push({ kind: "param", name: q });
    for (const c of p.fromCookies ?? []) locs.push({ kind: "cookie", name: c });
    if (locs.length === 0) locs.push({ kind: "header", name: "authorization", prefix: "Bearer " }, { kind: "param", name: "access_token" });
    this.locations = locs;
    this.forward = p.forward === true;
    this.forwardPayloadHeader = (p.forwardPayloadHeader ?? "").toLowerCase();
    this.padForwardPayloadHeader = p.padForwardPayloadHeader === true;
    this.payloadInMetadata = p.payloadInMetadata ?? "";
    this.spaceDelimitedClaims = p.normalizePayloadInMetadata?.spaceDelimitedClaims ?? [];
    this.headerInMetadata = p.headerInMetadata ?? "";
    this.failedStatusInMetadata = p.failedStatusInMetadata ?? "";
    this.claimToHeaders = (p.claimToHeaders ?? []).map((c, i) => {
      if (!c.headerName) throw new XdsConfigError(`${path}.claimToHeaders[${i}].headerName`, "header name must not be empty");
      if (!c.claimName) throw new XdsConfigError(`${path}.claimToHeaders[${i}].claimName`, "claim name must not be empty");
      return { header: c.headerName.toLowerCase(), claim: c.claimName.split(".") };
    });
    this.clearRouteCache = p.clearRouteCache === true;
    this.sanitize = [...(this.forwardPayloadHeader ? [this.forwardPayloadHeader] : []), ...this.claimToHeaders.map((c) => c.header)];
    const size = p.jwtCacheConfig ? p.jwtCacheConfig.jwtCacheSize || DEFAULT_JWT_CACHE_SIZE : 0;
    this.cache = new JwtCache(Math.min(size, MAX_JWT_CACHE_SIZE));

    if (p.localJwks !== undefined && p.remoteJwks !== undefined) throw new XdsConfigError(path, "only one of local_jwks and remote_jwks");
    if (p.localJwks !== undefined) {
      const buf = dataSource(p.localJwks, `${path}.localJwks`);
      if (buf.length > MAX_JWKS_BYTES) throw new XdsConfigError(`${path}.localJwks`, `JWKS of ${buf.length} bytes; the most tsmesh reads is ${MAX_JWKS_BYTES}`);
      const parsed = parseJwks(buf);
      // Envoy keeps an invalid inline set as none (tokens then fail with "Jwks doesn't have any valid public key").
      this.localJwks = typeof parsed === "number" ? undefined : parsed;
      this.remote = undefined;
    } else if (p.remoteJwks !== undefined) {
      this.localJwks = undefined;
      this.remote = compileRemote(p.remoteJwks, `${path}.remoteJwks`, rt);
    } else throw new XdsConfigError(path, "jwks_source_specifier is required: local_jwks or remote_jwks");
  }

  /** Is `jwt` within this provider's subject and lifetime limits (Envoy: else verification fails)? */
  subjectAndLifetimeAllowed(jwt: Jwt, nowSec: number): boolean {
    if (this.subjects !== undefined && !this.subjects.match(jwt.sub)) return false;
    const max = this.maxLifetimeSec;
    if (max === undefined) return true;
    if (!jwt.hasExp) return false;
    return jwt.exp - nowSec < max;
  }
}

function compileRemote(r: envoy.extensions.filters.http.jwt_authn.v3.RemoteJwks, path: string, rt: ProviderRuntime): RemoteJwks {
  const u = r.httpUri;
  if (u === undefined) throw new XdsConfigError(`${path}.httpUri`, "http_uri is required");
  if (!u.cluster) throw new XdsConfigError(`${path}.httpUri.cluster`, "cluster must not be empty");
  const timeoutMs = durationMs(u.timeout);
  if (timeoutMs === undefined) throw new XdsConfigError(`${path}.httpUri.timeout`, "timeout is required");
  let url: URL;
  try {
    url = new URL(u.uri ?? "");
  } catch {
    throw new XdsConfigError(`${path}.httpUri.uri`, `invalid URI ${JSON.stringify(u.uri ?? "")}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new XdsConfigError(`${path}.httpUri.uri`, `unsupported scheme in ${u.uri}`);
  if (r.retryPolicy !== undefined) throw new XdsConfigError(`${path}.retryPolicy`, "JWKS fetch retries are not implemented by tsmesh");
  const cacheMs = r.cacheDuration !== undefined ? (durationMs(r.cacheDuration) ?? 0) : DEFAULT_CACHE_MS;
  if (cacheMs < 1) throw new XdsConfigError(`${path}.cacheDuration`, "must be at least 1ms");
  const remote = new RemoteJwks({ cluster: u.cluster, authority: url.host, path: `${url.pathname}${url.search}`, scheme: url.protocol.slice(0, -1) }, timeoutMs, cacheMs, rt);
  if (r.asyncFetch !== undefined) {
    const refetch = r.asyncFetch.failedRefetchDuration !== undefined ? (durationMs(r.asyncFetch.failedRefetchDuration) ?? DEFAULT_REFETCH_MS) : DEFAULT_REFETCH_MS;
    remote.startAsyncFetch(Math.max(refetch, 1));
  }
  return remote;
}

// ---- extraction (Envoy's Extractor) ----

/** A run of the characters a token is made of (base64url and the dots), from lastIndex. */
const JWT_RUN = /[A-Za-z0-9_.-]+/g;

function tokenAt(v: string, from: number): string {
  JWT_RUN.lastIndex = from;
  const m = JWT_RUN.exec(v);
  return m === null ? "" : m[0];
}

function headerValue(h: http.OutgoingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(",") : String(v);
}

function decodeParam(v: string): string {
  try {
    return decodeURIComponent(v.replace(/\+/g, " "));
  } catch {
    return v;
  }
}

/** The token locations of a set of providers, merged (Envoy's ExtractorImpl). */
export class Extractor {
  private readonly locations: Array<{ loc: TokenLocation; issuers: Set<string> }> = [];
  private readonly sanitize: readonly string[];

  constructor(providers: readonly JwtProvider[], issuers: ReadonlyMap<JwtProvider, string>) {
    const byKey = new Map<string, { loc: TokenLocation; issuers: Set<string> }>();
    for (const p of providers) {
      for (const loc of p.locations) {
        const key = loc.kind === "header" ? `h:${loc.name}\0${loc.prefix}` : `${loc.kind[0]}:${loc.name}`;
        let e = byKey.get(key);
        if (e === undefined) byKey.set(key, (e = { loc, issuers: new Set() }));
        e.issuers.add(issuers.get(p) ?? "");
      }
    }
    // Headers, then parameters, then cookies; each kind by name (Envoy's ordered maps).
    const rank = { header: 0, param: 1, cookie: 2 } as const;
    this.locations = [...byKey.entries()].sort((a, b) => rank[a[1].loc.kind] - rank[b[1].loc.kind] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[1]);
    this.sanitize = [...new Set(providers.flatMap((p) => p.sanitize))];
  }

  /** Removes the headers only a verified token may set (a client's own copies never reach upstream). */
  sanitizeHeaders(h: http.OutgoingHttpHeaders): void {
    // Set to undefined, not deleted (every header consumer skips undefined): a delete turns the
    // request's header object into a slow dictionary for the rest of its way through the proxy.
    for (const n of this.sanitize) if (h[n] !== undefined) h[n] = undefined;
  }

  /** The tokens in the request. */
  extract(h: http.OutgoingHttpHeaders, path: string): FoundToken[] {
    const out: FoundToken[] = [];
    for (const { loc, issuers } of this.locations) {
      let token: string | undefined;
      if (loc.kind === "header") {
        const v = headerValue(h, loc.name);
        if (v === undefined) continue;
        if (loc.prefix) {
          const at = v.indexOf(loc.prefix);
          if (at < 0) continue;
          token = tokenAt(v, at + loc.prefix.length);
        } else token = v;
      } else if (loc.kind === "param") {
        const v = firstQueryParameter(path, loc.name);
        token = v === undefined ? undefined : decodeParam(v);
      } else token = cookieValue(h, loc.name);
      if (token) out.push({ token, location: loc, issuers });
    }
    return out;
  }
}

/** Envoy's JwtLocation::isIssuerAllowed: the location was named by a provider of this issuer (or of any). */
export function issuerAllowed(t: FoundToken, iss: string): boolean {
  return t.issuers.has("") || t.issuers.has(iss);
}

/** Envoy's JwtLocation::removeJwt: a header location loses the header; parameters and cookies stay. */
export function removeJwt(t: FoundToken, h: http.OutgoingHttpHeaders): void {
  if (t.location.kind === "header") h[t.location.name] = undefined;
}

