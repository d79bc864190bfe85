// istiod's JwksResolver (pilot/pkg/model/jwks_resolver.go): the JWKS the control plane inlines into
// jwt_authn providers when it, not the proxy, fetches a rule's jwksUri (or, without one, the
// jwks_uri of the issuer's OpenID discovery document). Cached per (issuer, jwksUri); refreshed in
// the background every 20 min (PILOT_JWT_PUB_KEY_REFRESH_INTERVAL), every minute after a failed
// round and doubling while failures continue (capped at 60 min), each refresh retried 7 times a
// second apart; entries unused or not refreshed for a week are dropped. A fetched JWKS that differs
// (keys compared by kid, as Istio) triggers a push. Unlike istiod, a push never waits for a fetch:
// a key not yet fetched, or one that failed, is answered with the fail-closed JWKS (tokens of that
// issuer are rejected) and the push that follows a successful fetch inlines the real one.
import { MetricsRegistry, type Counter } from "../core/metrics.js";
import type { JwtKeyResolver } from "../model/request-authentication.js";
import { PUBLIC_ONLY_JWKS } from "../xds/gen/authn.js";
import { DEFAULT_MAX_JWKS_BYTES, fetchBounded } from "./jwks-fetch.js";

/** Istio's openIDDiscoveryCfgURLSuffix. */
const OPENID_DISCOVERY_SUFFIX = "/.well-known/openid-configuration";

export interface JwksResolverOptions {
  /** Background refresh interval (Istio: 20 min). */
  refreshIntervalMs?: number;
  /** Interval after a failed round (Istio: 1 min), doubling while rounds keep failing. */
  refreshIntervalOnFailureMs?: number;
  /** Cap of that doubling (Istio: 60 min). */
  maxRefreshIntervalOnFailureMs?: number;
  /** Pause between retries of one refresh (Istio: 1 s). */
  retryIntervalMs?: number;
  /** Retries of a background fetch (Istio: 7). */
  refreshRetries?: number;
  /** Unused or unrefreshed this long: dropped (Istio: 7 days). */
  evictionMs?: number;
  maxBytes?: number;
  /** Called when a fetched JWKS changed what pushes inline: the keys (issuer, jwksUri) affected. */
  onChange?: (changed: ReadonlyArray<{ issuer: string; jwksUri: string }>) => void;
  log?: (line: string) => void;
  metrics?: MetricsRegistry;
  now?: () => number;
}

/** What the resolver last learnt about one (issuer, jwksUri). */
export interface JwksStatus {
  state: "pending" | "ok" | "failed";
  /** Why the last fetch failed (state "failed"). */
  error?: string;
  /** The URI the keys come from (the OpenID discovery answer when the rule has no jwksUri). */
  resolvedUri?: string;
}

interface Entry {
  issuer: string;
  jwksUri: string;
  /** The last good JWKS ("" before the first success). */
  jwks: string;
  timeoutMs: number;
  lastRefreshed: number;
  lastUsed: number;
  status: JwksStatus;
  inflight?: Promise<void>;
}

/** Istio's validateJWKSFormat: a JSON object whose `keys` is an array. */
export function checkJwksFormat(body: string): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (e) {
    return `not valid JSON: ${(e as Error).message}`;
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) return "not a JSON object";
  const keys = (doc as { keys?: unknown }).keys;
  if (keys === undefined) return `missing "keys" field`;
  if (!Array.isArray(keys)) return `"keys" is not an array`;
  return undefined;
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

function kid(k: unknown): string {
  const id = k && typeof k === "object" ? (k as { kid?: unknown }).kid : undefined;
  return typeof id === "string" ? id : "";
}

/** Istio's compareJWKSResponse: whether two JWKS documents hold different keys (order of keys by kid ignored). */
export function jwksDiffer(before: string, after: string): boolean {
  if (before === after) return false;
  let a: { keys?: unknown };
  let b: { keys?: unknown };
  try {
    a = JSON.parse(before) as { keys?: unknown };
    b = JSON.parse(after) as { keys?: unknown };
  } catch {
    return true;
  }
  if (!Array.isArray(a.keys) || !Array.isArray(b.keys)) return true;
  const sorted = (keys: unknown[]) => [...keys].sort((x, y) => (kid(x) < kid(y) ? -1 : kid(x) > kid(y) ? 1 : 0)).map(canonical);
  return canonical(sorted(a.keys)) !== canonical(sorted(b.keys));
}

const key = (issuer: string, jwksUri: string) => `${issuer}\u0000${jwksUri}`;

export class JwksResolver implements JwtKeyResolver {
  private readonly entries = new Map<string, Entry>();
  private readonly opts: Required<Omit<JwksResolverOptions, "onChange" | "log" | "metrics">> & Pick<JwksResolverOptions, "onChange" | "log">;
  private readonly fetchSuccess: Counter;
  private readonly fetchFail: Counter;
  private interval: number;
  private lastRoundFailed = false;
  private timer: NodeJS.Timeout | undefined;
  /** When the timer fires (opts.now() clock). */
  private due = 0;
  private closed = false;
  private readonly reported = new Set<string>();

  constructor(options: JwksResolverOptions = {}) {
    this.opts = {
      refreshIntervalMs: options.refreshIntervalMs ?? 20 * 60_000,
      refreshIntervalOnFailureMs: options.refreshIntervalOnFailureMs ?? 60_000,
      maxRefreshIntervalOnFailureMs: options.maxRefreshIntervalOnFailureMs ?? 60 * 60_000,
      retryIntervalMs: options.retryIntervalMs ?? 1_000,
      refreshRetries: options.refreshRetries ?? 7,
      evictionMs: options.evictionMs ?? 7 * 24 * 3_600_000,
      maxBytes: options.maxBytes ?? DEFAULT_MAX_JWKS_BYTES,
      now: options.now ?? Date.now,
      onChange: options.onChange,
      log: options.log,
    };
    const metrics = options.metrics ?? new MetricsRegistry();
    this.fetchSuccess = metrics.counter("pilot_jwks_resolver_network_fetch_success_total", "Total number of successfully network fetch by pilot jwks resolver");
    this.fetchFail = metrics.counter("pilot_jwks_resolver_network_fetch_fail_total", "Total number of failed network fetch by pilot jwks resolver");
    this.interval = this.opts.refreshIntervalMs;
    this.schedule();
  }

  /** JwtKeyResolver: the cached JWKS, else the fail-closed one while a fetch runs (never waits). */
  localJwks(issuer: string, jwksUri: string, timeoutMs: number): string {
    const now = this.opts.now();
    let e = this.entries.get(key(issuer, jwksUri));
    if (!e) {
      e = { issuer, jwksUri, jwks: "", timeoutMs, lastRefreshed: now, lastUsed: now, status: { state: "pending" } };
      const entry = e;
      this.entries.set(key(issuer, jwksUri), entry);
      // Istio's main flow fetches once; a failure goes to the background with retries, and one that
      // fails there too is tried again by the refresh on failure's interval, not 20 min later.
      void this.fetchEntry(entry, 0).then(() => {
        if (entry.status.state !== "failed" || this.entries.get(key(issuer, jwksUri)) !== entry || this.closed) return;
        void this.fetchEntry(entry, this.opts.refreshRetries).then(() => {
          if (entry.status.state === "failed") this.refreshWithin(this.opts.refreshIntervalOnFailureMs);
        });
      });
    } else {
      e.lastUsed = Math.max(e.lastUsed, now);
      e.timeoutMs = timeoutMs;
    }
    if (e.jwks) return e.jwks;
    if (e.status.state === "failed") this.reportOnce(`jwks for issuer ${JSON.stringify(issuer)} (${jwksUri || "OpenID discovery"}): using a JWKS no token verifies against, every token of this issuer is rejected: ${e.status.error ?? ""}`);
    return PUBLIC_ONLY_JWKS;
  }

  report(message: string): void {
    this.reportOnce(message);
  }

  /** The last result for (issuer, jwksUri), if the resolver was ever asked for it. */
  status(issuer: string, jwksUri: string): JwksStatus | undefined {
    return this.entries.get(key(issuer, jwksUri))?.status;
  }

  /** Fetches (issuer, jwksUri) now, once (no retries), and returns the outcome (for `analyze`). */
  async check(issuer: string, jwksUri: string, timeoutMs: number): Promise<JwksStatus> {
    this.localJwks(issuer, jwksUri, timeoutMs);
    const e = this.entries.get(key(issuer, jwksUri))!;
    await e.inflight;
    return e.status;
  }

  /** Waits for fetches in flight (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => e.inflight));
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private reportOnce(message: string): void {
    if (this.reported.has(message)) return;
    // Bounded: a long-lived control plane must not keep every message it ever logged.
    if (this.reported.size >= 1000) this.reported.clear();
    this.reported.add(message);
    this.opts.log?.(`jwks: ${message}`);
  }

  private schedule(delayMs = this.interval): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.due = this.opts.now() + delayMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.refreshRound();
    }, delayMs);
    this.timer.unref();
  }

  /** Brings the next refresh round forward to at most `delayMs` from now (not while a round runs). */
  private refreshWithin(delayMs: number): void {
    if (this.timer && this.due > this.opts.now() + delayMs) this.schedule(delayMs);
  }

  /** Istio's refreshCache: every entry fetched again; the next interval depends on failures. */
  private async refreshRound(): Promise<void> {
    const now = this.opts.now();
    const round: Promise<boolean>[] = [];
    for (const [k, e] of this.entries) {
      if (now - e.lastUsed >= this.opts.evictionMs || now - e.lastRefreshed >= this.opts.evictionMs) {
        this.opts.log?.(`jwks: dropped cached JWKS of issuer ${JSON.stringify(e.issuer)} (${e.jwksUri || "OpenID discovery"}): unused or not refreshed for ${Math.round(this.opts.evictionMs / 3_600_000)} h`);
        this.entries.delete(k);
        continue;
      }
      round.push((e.inflight ?? this.fetchEntry(e, this.opts.refreshRetries)).then(() => e.status.state === "ok"));
    }
    const failed = (await Promise.all(round)).some((ok) => !ok);
    if (failed) {
      this.interval = this.lastRoundFailed ? Math.min(this.interval * 2, this.opts.maxRefreshIntervalOnFailureMs) : this.opts.refreshIntervalOnFailureMs;
    } else this.interval = this.opts.refreshIntervalMs;
    this.lastRoundFailed = failed;
    this.schedule();
  }

  private fetchEntry(e: Entry, retries: number): Promise<void> {
    const run = async () => {
      try {
        const uri = e.jwksUri || (await this.discoverJwksUri(e.issuer, e.timeoutMs, retries));
        const body = await this.getWithRetry(uri, e.timeoutMs, retries);
        const bad = checkJwksFormat(body);
        if (bad) throw new Error(`content fetched from ${uri} is not a valid JWKS: ${bad}`);
        const changed = jwksDiffer(e.jwks || PUBLIC_ONLY_JWKS, body);
        const recovered = e.status.state === "failed";
        e.jwks = body;
        e.lastRefreshed = this.opts.now();
        e.status = { state: "ok", resolvedUri: uri };
        if (recovered) this.opts.log?.(`jwks: fetched the JWKS of issuer ${JSON.stringify(e.issuer)} from ${uri}`);
        if (changed && this.entries.get(key(e.issuer, e.jwksUri)) === e && !this.closed) {
          this.opts.log?.(`jwks: updated cached JWKS of issuer ${JSON.stringify(e.issuer)} from ${uri}: pushing`);
          this.opts.onChange?.([{ issuer: e.issuer, jwksUri: e.jwksUri }]);
        }
      } catch (err) {
        const message = (err as Error).message;
        const first = e.status.state !== "failed" || e.status.error !== message;
        e.status = { state: "failed", error: message, resolvedUri: e.status.resolvedUri };
        if (first) {
          const keeps = e.jwks ? "the last fetched JWKS stays in use" : "tokens of this issuer are rejected until it succeeds";
          this.opts.log?.(`jwks: failed to fetch the JWKS of issuer ${JSON.stringify(e.issuer)} (${e.jwksUri || "OpenID discovery"}): ${message}; ${keeps}`);
        }
      } finally {
        e.inflight = undefined;
      }
    };
    e.inflight = run();
    return e.inflight;
  }

  /** Istio's resolveJwksURIUsingOpenID: jwks_uri of ISSUER/.well-known/openid-configuration. */
  private async discoverJwksUri(issuer: string, timeoutMs: number, retries: number): Promise<string> {
    if (!issuer) throw new Error("jwksUri and issuer are both empty");
    const url = issuer.replace(/\/$/, "") + OPENID_DISCOVERY_SUFFIX;
    const body = await this.getWithRetry(url, timeoutMs, retries);
    let doc: unknown;
    try {
      doc = JSON.parse(body);
    } catch (e) {
      throw new Error(`OpenID discovery ${url}: not valid JSON: ${(e as Error).message}`);
    }
    const uri = doc && typeof doc === "object" ? (doc as { jwks_uri?: unknown }).jwks_uri : undefined;
    if (typeof uri !== "string") throw new Error(`OpenID discovery ${url}: invalid jwks_uri ${JSON.stringify(uri) ?? "undefined"}`);
    return uri;
  }

  private async getWithRetry(uri: string, timeoutMs: number, retries: number): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      try {
        const body = await fetchBounded(uri, timeoutMs, this.opts.maxBytes);
        this.fetchSuccess.inc();
        return body;
      } catch (e) {
        this.fetchFail.inc();
        if (attempt >= retries || this.closed) throw new Error(`GET ${uri}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, this.opts.retryIntervalMs).unref());
      }
    }
  }
}
