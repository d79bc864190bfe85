// jwt_authn's requirements (Envoy's Verifier tree and Authenticator): a JwtRequirement compiled
// into provider_name / provider_and_audiences leaves, requires_any / requires_all groups, and
// allow_missing / allow_missing_or_failed (inside requires_any they relax the group's result; on
// their own they accept the tokens of every provider). A leaf finds its tokens, checks each (parse,
// issuer, time with clock skew, audiences, subject and lifetime, signature with the provider's
// JWKS — fetched when a remote set is missing or stale), and on success forwards what the provider
// asks (payload header, claim headers, metadata) and removes the token unless `forward`. Every
// token of a request must verify, unless missing/failed tokens are allowed. The result is a status
// now when no signature has to be checked (no token: nothing waits on a JWKS fetch), or a promise.
import type * as http from "node:http";
import type { envoy } from "../../../envoy/types.js";
import type { MetadataValue } from "../../dynamic-metadata.js";
import { XdsConfigError } from "../../xds-error.js";
import { verifySignature } from "./jwt-jwks.js";
import { Extractor, type FoundToken, issuerAllowed, type JwtProvider, type ProviderRuntime, removeJwt } from "./jwt-provider.js";
import { type Json, type Jwt, JwtStatus, parseJwt, statusMessage, verifyTimeConstraint } from "./jwt-token.js";

const S = JwtStatus;

/** A status now, or later. */
export type Outcome = JwtStatus | Promise<JwtStatus>;

/** One request's verification: its headers (changed in place), what it leaves in metadata. */
export class VerifyContext {
  /** Fields for the `envoy.filters.http.jwt_authn` metadata namespace. */
  extracted: Map<string, MetadataValue> | undefined = undefined;
  clearRouteCache = false;
  /** The stream went away: nothing more is written. */
  cancelled = false;

  constructor(
    readonly headers: http.OutgoingHttpHeaders,
    /** :path with the query (query parameter tokens). */
    readonly path: string,
  ) {}
}

/** All providers of the filter, and how requirements without one find theirs. */
export class ProviderSet {
  private readonly byIssuer = new Map<string, JwtProvider>();
  readonly issuers = new Map<JwtProvider, string>();

  constructor(
    readonly byName: ReadonlyMap<string, JwtProvider>,
    issuerOf: ReadonlyMap<string, string>,
    readonly rt: ProviderRuntime,
  ) {
    for (const [name, p] of byName) {
      const iss = issuerOf.get(name) ?? "";
      this.issuers.set(p, iss);
      if (!this.byIssuer.has(iss)) this.byIssuer.set(iss, p);
    }
  }

  /** Envoy's findByIssuer: the first provider of the issuer, else the first without issuer. */
  findByIssuer(iss: string): JwtProvider | undefined {
    return this.byIssuer.get(iss) ?? (iss ? this.byIssuer.get("") : undefined);
  }

  /** The only provider, when there is one (failed_status_in_metadata without a provider). */
  single(): JwtProvider | undefined {
    return this.byName.size === 1 ? this.byName.values().next().value : undefined;
  }
}

/** A compiled requirement. */
export interface Verifier {
  verify(ctx: VerifyContext): Outcome;
}

const then = (o: Outcome, f: (s: JwtStatus) => Outcome): Outcome => (typeof o === "number" ? f(o) : o.then(f));

/** jwt_verify_lib's CheckAudience: scheme prefix and trailing slash do not count. */
function sanitizeAudience(a: string): string {
  let s = a.startsWith("http://") ? a.slice(7) : a.startsWith("https://") ? a.slice(8) : a;
  if (s.endsWith("/")) s = s.slice(0, -1);
  return s;
}

function audiencesAllowed(config: readonly string[], jwt: readonly string[]): boolean {
  if (config.length === 0) return true;
  const allowed = new Set(config.map(sanitizeAudience));
  return jwt.some((a) => allowed.has(sanitizeAudience(a)));
}

/** Envoy's convertClaimDoubleToString: integers as integers, others as std::to_string (6 decimals). */
function numberText(n: number): string {
  if (n >= 0 && n < 2 ** 64 && Number.isInteger(n)) return BigInt(n).toString();
  return n.toFixed(6);
}

function claimAt(payload: Json, path: readonly string[]): Json | undefined {
  let v: Json | undefined = payload;
  for (const k of path) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
    const o = v as { readonly [k: string]: Json };
    if (!Object.prototype.hasOwnProperty.call(o, k)) return undefined;
    v = o[k];
  }
  return v;
}

/** A claim as a header value (objects and lists as base64 JSON, as Envoy); "" when none. */
function claimText(v: Json | undefined): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number") return numberText(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  return Buffer.from(JSON.stringify(v)).toString("base64");
}

/** What an HTTP header value may hold (Node's rule: tab, visible ASCII, obs-text). */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

function appendHeader(h: http.OutgoingHttpHeaders, name: string, value: string): void {
  const had = h[name];
  if (had === undefined) h[name] = value;
  else h[name] = [...(Array.isArray(had) ? had : [String(had)]), value];
}

interface AuthOptions {
  /** The provider the requirement names (undefined: allow_missing / allow_missing_or_failed). */
  readonly provider: JwtProvider | undefined;
  /** provider_and_audiences: these instead of the provider's. */
  readonly audiences: readonly string[] | undefined;
  readonly allowFailed: boolean;
  readonly allowMissing: boolean;
}

/** Envoy's AuthenticatorImpl for one requirement leaf and one request. */
class Authentication {
  private provider: JwtProvider | undefined;

  constructor(
    private readonly set: ProviderSet,
    private readonly o: AuthOptions,
    private readonly ctx: VerifyContext,
    private readonly tokens: FoundToken[],
  ) {
    this.provider = o.provider;
  }

  run(): Outcome {
    if (this.tokens.length === 0) return this.done(S.JwtMissed);
    return this.next();
  }

  private next(): Outcome {
    const t = this.tokens.pop() as FoundToken;
    return then(this.verifyOne(t), (s) => this.done(s));
  }

  private verifyOne(t: FoundToken): Outcome {
    const rt = this.set.rt;
    const nowSec = Math.floor(rt.wallNow() / 1000);
    let jwt: Jwt | undefined;
    let cacheHit = false;
    if (this.o.provider !== undefined) {
      jwt = this.o.provider.cache.lookup(t.token, nowSec);
      cacheHit = jwt !== undefined;
      (cacheHit ? rt.stats.jwtCacheHit : rt.stats.jwtCacheMiss).inc();
    }
    if (jwt === undefined) {
      const parsed = parseJwt(t.token);
      if (typeof parsed === "number") return parsed;
      jwt = parsed;
    }
    if (!issuerAllowed(t, jwt.iss)) return S.JwtUnknownIssuer;
    if (this.o.provider === undefined) this.provider = this.set.findByIssuer(jwt.iss);
    const p = this.provider;
    if (p === undefined) return S.JwtUnknownIssuer;
    const time = verifyTimeConstraint(jwt, nowSec, p.clockSkewSec);
    if (time !== S.Ok) return time;
    if (!audiencesAllowed(this.o.audiences ?? p.audiences, jwt.audiences)) return S.JwtAudienceNotAllowed;
    if (!p.subjectAndLifetimeAllowed(jwt, nowSec)) return S.JwtVerificationFail;
    const good = jwt;
    if (cacheHit) return this.handleGood(p, good, t, true);
    const verify = (s: JwtStatus): JwtStatus => (s === S.Ok ? this.handleGood(p, good, t, false) : s);
    const jwks = p.localJwks ?? p.remote?.current();
    if (jwks !== undefined) return then(verifySignature(good, jwks), verify);
    if (p.remote !== undefined) return p.remote.fetch().then((j) => (j === undefined ? S.JwksFetchFail : then(verifySignature(good, j), verify)));
    return S.JwksNoValidKeys;
  }

  private handleGood(p: JwtProvider, jwt: Jwt, t: FoundToken, cacheHit: boolean): JwtStatus {
    const ctx = this.ctx;
    if (ctx.cancelled) return S.Ok;
    const h = ctx.headers;
    if (p.forwardPayloadHeader) {
      let v = jwt.payloadB64.replace(/=+$/, "");
      if (p.padForwardPayloadHeader) v += "=".repeat((4 - (v.length % 4)) % 4);
      appendHeader(h, p.forwardPayloadHeader, v);
    }
    let headerAdded = false;
    for (const c of p.claimToHeaders) {
      const text = claimText(claimAt(jwt.payload, c.claim));
      // A claim is the token issuer's text: one a header cannot carry (CR, LF, NUL…) is not added.
      if (!text || !HEADER_VALUE.test(text)) continue;
      appendHeader(h, c.header, text);
      headerAdded = true;
    }
    if (p.clearRouteCache && (headerAdded || p.payloadInMetadata)) ctx.clearRouteCache = true;
    if (!p.forward) removeJwt(t, h);
    if (p.headerInMetadata) (ctx.extracted ??= new Map()).set(p.headerInMetadata, jwt.header as MetadataValue);
    if (p.payloadInMetadata) (ctx.extracted ??= new Map()).set(p.payloadInMetadata, normalizedPayload(jwt.payload, p.spaceDelimitedClaims) as MetadataValue);
    if (this.o.provider !== undefined && !cacheHit) p.cache.insert(jwt);
    return S.Ok;
  }

  private done(s: JwtStatus): Outcome {
    if (s !== S.Ok && !this.ctx.cancelled) {
      const p = this.provider ?? this.set.single();
      if (p !== undefined && p.failedStatusInMetadata) (this.ctx.extracted ??= new Map()).set(p.failedStatusInMetadata, { code: s, message: statusMessage(s) });
    }
    // Every token must verify, unless failed or missing ones are allowed.
    if ((s !== S.Ok && !this.o.allowFailed && !this.o.allowMissing) || this.tokens.length === 0) {
      this.tokens.length = 0;
      if (this.o.allowFailed) return S.Ok;
      if (this.o.allowMissing && s === S.JwtMissed) return S.Ok;
      return s;
    }
    return this.next();
  }
}

/** Normalized payloads per claims list (a provider's) and payload object (parsed tokens are kept and never modified). */
const normalized = new WeakMap<readonly string[], WeakMap<object, Json>>();

/** Envoy's normalize_payload_in_metadata: space-delimited string claims become lists. */
function normalizedPayload(payload: Json, claims: readonly string[]): Json {
  if (claims.length === 0 || payload === null || typeof payload !== "object" || Array.isArray(payload)) return payload;
  let byPayload = normalized.get(claims);
  if (byPayload === undefined) normalized.set(claims, (byPayload = new WeakMap()));
  let out = byPayload.get(payload);
  if (out === undefined) byPayload.set(payload, (out = normalize(payload as { readonly [k: string]: Json }, claims)));
  return out;
}

function normalize(src: { readonly [k: string]: Json }, claims: readonly string[]): Json {
  const out = Object.create(null) as Record<string, Json>;
  for (const k of Object.keys(src)) out[k] = src[k];
  for (const c of claims) {
    const v = Object.prototype.hasOwnProperty.call(src, c) ? src[c] : undefined;
    if (typeof v === "string") out[c] = v.split(" ").filter((x) => x.length > 0);
  }
  return out;
}

class LeafVerifier implements Verifier {
  private readonly extractor: Extractor;
  constructor(
    private readonly set: ProviderSet,
    private readonly o: AuthOptions,
    providers: readonly JwtProvider[],
  ) {
    this.extractor = new Extractor(providers, set.issuers);
  }

  verify(ctx: VerifyContext): Outcome {
    this.extractor.sanitizeHeaders(ctx.headers);
    const tokens = this.extractor.extract(ctx.headers, ctx.path);
    return new Authentication(this.set, this.o, ctx, tokens).run();
  }
}

/**
 * requires_any: the first child that succeeds; when none does, Envoy's aggregate — the last error
 * that is neither "missing" nor "unknown issuer", else "unknown issuer", else "missing" — which an
 * allow_missing branch turns into success when it is "missing", and allow_missing_or_failed always.
 */
class AnyVerifier implements Verifier {
  constructor(
    private readonly children: readonly Verifier[],
    private readonly allowMissing: boolean,
    private readonly allowMissingOrFailed: boolean,
  ) {}

  verify(ctx: VerifyContext): Outcome {
    const step = (i: number, acc: JwtStatus): Outcome => {
      if (i >= this.children.length) {
        if (this.allowMissingOrFailed) return S.Ok;
        return this.allowMissing && acc === S.JwtMissed ? S.Ok : acc;
      }
      return then(this.children[i].verify(ctx), (s) => {
        if (s === S.Ok) return S.Ok;
        const keep = (s !== S.JwtMissed && s !== S.JwtUnknownIssuer) || acc === S.JwtMissed;
        return step(i + 1, keep ? s : acc);
      });
    };
    return step(0, S.JwtMissed);
  }
}

/** requires_all: every child; the first failure ends it. */
class AllVerifier implements Verifier {
  constructor(private readonly children: readonly Verifier[]) {}
  verify(ctx: VerifyContext): Outcome {
    const step = (i: number): Outcome => {
      if (i >= this.children.length) return S.Ok;
      return then(this.children[i].verify(ctx), (s) => (s === S.Ok ? step(i + 1) : s));
    };
    return step(0);
  }
}

const ALLOW_ALL: Verifier = { verify: () => S.Ok };

/** The most nested requirement groups accepted. */
const MAX_DEPTH = 16;

/** Envoy's Verifier::create (innerCreate): throws XdsConfigError with the field path. */
export function compileRequirement(r: envoy.extensions.filters.http.jwt_authn.v3.JwtRequirement, set: ProviderSet, path: string, depth = 0): Verifier {
  if (depth > MAX_DEPTH) throw new XdsConfigError(path, `requirements nested deeper than ${MAX_DEPTH}`);
  const provider = (name: string, p: string): JwtProvider => {
    const found = set.byName.get(name);
    if (found === undefined) throw new XdsConfigError(p, `Required provider ['${name}'] is not configured.`);
    return found;
  };
  const bypass = (allowFailed: boolean): Verifier =>
    new LeafVerifier(set, { provider: undefined, audiences: undefined, allowFailed, allowMissing: true }, [...set.byName.values()]);
  if (r.providerName !== undefined) {
    const p = provider(r.providerName, `${path}.providerName`);
    return new LeafVerifier(set, { provider: p, audiences: undefined, allowFailed: false, allowMissing: false }, [p]);
  }
  if (r.providerAndAudiences !== undefined) {
    const pa = r.providerAndAudiences;
    const p = provider(pa.providerName ?? "", `${path}.providerAndAudiences.providerName`);
    const auds = pa.audiences ?? [];
    return new LeafVerifier(set, { provider: p, audiences: auds.length > 0 ? auds : undefined, allowFailed: false, allowMissing: false }, [p]);
  }
  if (r.requiresAny !== undefined) {
    const list = r.requiresAny.requirements ?? [];
    if (list.length < 2) throw new XdsConfigError(`${path}.requiresAny.requirements`, "needs at least 2 requirements");
    const children: Verifier[] = [];
    let allowMissing = false;
    let allowMissingOrFailed = false;
    list.forEach((c, i) => {
      if (c.allowMissingOrFailed !== undefined) allowMissingOrFailed = true;
      else if (c.allowMissing !== undefined) allowMissing = true;
      else children.push(compileRequirement(c, set, `${path}.requiresAny.requirements[${i}]`, depth + 1));
    });
    // Only bypass entries: one branch that accepts every provider's tokens.
    if (children.length === 0) children.push(bypass(allowMissingOrFailed));
    return new AnyVerifier(children, allowMissing, allowMissingOrFailed);
  }
  if (r.requiresAll !== undefined) {
    const list = r.requiresAll.requirements ?? [];
    if (list.length < 2) throw new XdsConfigError(`${path}.requiresAll.requirements`, "needs at least 2 requirements");
    return new AllVerifier(list.map((c, i) => compileRequirement(c, set, `${path}.requiresAll.requirements[${i}]`, depth + 1)));
  }
  if (r.allowMissingOrFailed !== undefined) return bypass(true);
  if (r.allowMissing !== undefined) return bypass(false);
  return ALLOW_ALL;
}
