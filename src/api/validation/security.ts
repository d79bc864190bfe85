// Istio's semantic validation for AuthorizationPolicy, PeerAuthentication and RequestAuthentication
// (istio/istio pkg/config/validation/validation.go + pkg/config/security). Rules the CRD schema already
// enforces (enums, oneOf, lengths, CEL rules such as "serviceAccounts with namespaces") are not repeated.
// The selector / targetRef / dry-run helpers at the top are shared with telemetry.ts and extensions.ts.
import type { AuthorizationRule, JWTRule, Resource } from "../resource.js";
import { checkDuration, checkIPOrCIDR } from "./common.js";
import type { SemanticValidator, ValidationContext } from "./context.js";

// ---------------------------------------------------------------------------------------------
// Shared helpers (policy attachment, annotations)

interface TargetRef {
  group?: string;
  kind: string;
  name: string;
  namespace?: string;
}

/** Kinds a policy `targetRef(s)` may point at (Istio's allowedTargetRefs), as canonical group/kind. */
const ALLOWED_TARGET_REFS = [
  { group: "core", kind: "Service" },
  { group: "networking.istio.io", kind: "ServiceEntry" },
  { group: "gateway.networking.k8s.io", kind: "Gateway" },
  { group: "gateway.networking.k8s.io", kind: "GatewayClass" },
] as const;

const ALLOWED_TARGET_REFS_TEXT = "Service (group \"\"), ServiceEntry (networking.istio.io), Gateway or GatewayClass (gateway.networking.k8s.io)";

function checkTargetRef(ref: TargetRef, path: string, ctx: ValidationContext): void {
  const group = ref.group === undefined || ref.group === "" ? "core" : ref.group;
  if (!ALLOWED_TARGET_REFS.some((a) => a.group === group && a.kind === ref.kind))
    ctx.error(
      "TSMESH_INVALID_SELECTOR",
      `${path}.kind`,
      `targetRef to ${ref.group ? `${ref.group}/` : ""}${ref.kind} is not supported; it must name a ${ALLOWED_TARGET_REFS_TEXT}`,
    );
}

/**
 * Istio's validateWorkloadSelector + validatePolicyTargetReference(s): warns on a selector without labels
 * (it selects every workload in the namespace) and rejects targetRefs to unsupported kinds.
 * `checkKinds: false` skips the kind check (kinds where Istio does not restrict the target).
 */
export function checkPolicyAttachment(
  spec: { selector?: { matchLabels?: Record<string, string> }; targetRef?: TargetRef; targetRefs?: TargetRef[] },
  ctx: ValidationContext,
  opts: { checkKinds?: boolean } = {},
): void {
  if (spec.selector && Object.keys(spec.selector.matchLabels ?? {}).length === 0)
    ctx.warn(
      "TSMESH_SUSPICIOUS",
      "spec.selector",
      "workload selector has no matchLabels: it selects every workload in the namespace (remove `selector` if that is intended)",
    );
  if (opts.checkKinds === false) return;
  if (spec.targetRef) checkTargetRef(spec.targetRef, "spec.targetRef", ctx);
  spec.targetRefs?.forEach((ref, i) => checkTargetRef(ref, `spec.targetRefs[${i}]`, ctx));
}

export const DRY_RUN_ANNOTATION = "istio.io/dry-run";
const GO_BOOLS = new Set(["1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"]);

/** Istio accepts `istio.io/dry-run` only on ALLOW/DENY AuthorizationPolicies, with a Go boolean value. */
export function checkDryRunAnnotation(resource: Resource, ctx: ValidationContext): void {
  const value = resource.metadata.annotations?.[DRY_RUN_ANNOTATION];
  if (value === undefined) return;
  const path = `metadata.annotations[${DRY_RUN_ANNOTATION}]`;
  if (resource.kind !== "AuthorizationPolicy") {
    ctx.error("TSMESH_INVALID_VALUE", path, `annotation ${DRY_RUN_ANNOTATION} is only supported on AuthorizationPolicy; remove it`);
    return;
  }
  const action = (resource as Resource<"AuthorizationPolicy">).spec.action ?? "ALLOW";
  if (action !== "ALLOW" && action !== "DENY")
    ctx.error("TSMESH_INVALID_VALUE", path, `annotation ${DRY_RUN_ANNOTATION} only supports action ALLOW or DENY, found ${action}`);
  else if (!GO_BOOLS.has(value))
    ctx.error("TSMESH_INVALID_VALUE", path, `annotation ${DRY_RUN_ANNOTATION} must be a boolean ("true" or "false"), found ${JSON.stringify(value)}`);
}

/** Envoy's (non-strict) header-name check: no NUL, CR or LF. Returns an error message. */
function headerNameControlChars(name: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000\r\n]/.test(name)) return `header name ${JSON.stringify(name)} must not contain NUL, CR or LF`;
  return undefined;
}

/** RFC 7230 token characters, what a header name should consist of. */
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

// ---------------------------------------------------------------------------------------------
// AuthorizationPolicy

type Source = NonNullable<NonNullable<AuthorizationRule["from"]>[number]["source"]>;
type Operation = NonNullable<NonNullable<AuthorizationRule["to"]>[number]["operation"]>;
type Condition = NonNullable<AuthorizationRule["when"]>[number];

const SOURCE_FIELDS = [
  "principals",
  "notPrincipals",
  "requestPrincipals",
  "notRequestPrincipals",
  "namespaces",
  "notNamespaces",
  "serviceAccounts",
  "notServiceAccounts",
  "ipBlocks",
  "notIpBlocks",
  "remoteIpBlocks",
  "notRemoteIpBlocks",
  "trustDomains",
  "notTrustDomains",
] as const satisfies readonly (keyof Source)[];

/** Source fields that also apply to plain TCP traffic (everything except request principals). */
const TCP_SOURCE_FIELDS = SOURCE_FIELDS.filter((f) => f !== "requestPrincipals" && f !== "notRequestPrincipals");
const IP_SOURCE_FIELDS = new Set<keyof Source>(["ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks"]);
const SERVICE_ACCOUNT_FIELDS = new Set<keyof Source>(["serviceAccounts", "notServiceAccounts"]);
/** Source fields the CUSTOM action cannot use (identity is not available to the external authorizer). */
const CUSTOM_UNSUPPORTED_SOURCE = [
  "namespaces",
  "notNamespaces",
  "serviceAccounts",
  "notServiceAccounts",
  "principals",
  "notPrincipals",
  "requestPrincipals",
  "notRequestPrincipals",
] as const satisfies readonly (keyof Source)[];

const OPERATION_FIELDS = ["hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths"] as const satisfies readonly (keyof Operation)[];

const HTTP_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE"]);

/** Istio's security.ValidatePorts: a decimal number 0..65535. */
function checkAuthzPort(port: string): string | undefined {
  if (!/^\d+$/.test(port) || Number(port) > 65535) return `bad port ${JSON.stringify(port)}: must be a number in 0..65535`;
  return undefined;
}

/** Istio's security.CheckServiceAccount for one value: `sa` or `namespace/sa`, no wildcards. */
function checkServiceAccount(value: string): string | undefined {
  if (value.includes("*")) return `wildcards are not allowed in service accounts, found ${JSON.stringify(value)}`;
  const parts = value.split("/");
  if (parts.length > 2) return `expected "serviceAccount" or "namespace/serviceAccount", found ${JSON.stringify(value)}`;
  if (parts.length === 2 && parts[0] === "") return `expected "namespace/serviceAccount", found an empty namespace in ${JSON.stringify(value)}`;
  if (parts[parts.length - 1] === "") return `expected "namespace/serviceAccount", found an empty service account in ${JSON.stringify(value)}`;
  if (value.length > 320) return `service account must be at most 320 characters, found ${value.length}`;
  return undefined;
}

const PATH_TEMPLATE_LITERAL = /^[a-zA-Z0-9\-._~%!$&'()+,;:@=]+$/;

/** Istio's security.CheckValidPathTemplate: `{*}` matches one segment, `{**}` the rest and must be last. */
function checkPathTemplate(path: string): string | undefined {
  const hasTemplate = path.includes("{*}") || path.includes("{**}");
  let foundAny = false;
  for (const segment of path.replace(/^\/+|\/+$/g, "").split("/")) {
    if (segment === "{*}" || segment === "{**}") {
      if (foundAny) return `invalid path template ${JSON.stringify(path)}: {**} must be the last operator`;
      if (segment === "{**}") foundAny = true;
      continue;
    }
    if (/[{}]/.test(segment))
      return `invalid path template ${JSON.stringify(path)}: "{" or "}" may only appear in the operators {*} and {**}`;
    if (hasTemplate && !PATH_TEMPLATE_LITERAL.test(segment))
      return `invalid path template ${JSON.stringify(path)}: segment ${JSON.stringify(segment)} is not a valid path literal`;
  }
  return undefined;
}

/** `name[...]` form used by request.headers[...], request.auth.claims[...], experimental.envoy.filters.*[...]. */
function hasMapKey(key: string): boolean {
  const open = key.indexOf("[");
  return key.endsWith("]") && open > 0 && open < key.length - 2;
}

type ValueCheck = (value: string) => { code: "TSMESH_INVALID_ADDRESS" | "TSMESH_INVALID_PORT" | "TSMESH_INVALID_RULE"; message: string } | undefined;

const ipValue: ValueCheck = (v) => {
  const e = checkIPOrCIDR(v);
  return e ? { code: "TSMESH_INVALID_ADDRESS", message: e } : undefined;
};
const portValue: ValueCheck = (v) => {
  const e = checkAuthzPort(v);
  return e ? { code: "TSMESH_INVALID_PORT", message: e } : undefined;
};
const serviceAccountValue: ValueCheck = (v) => {
  const e = checkServiceAccount(v);
  return e ? { code: "TSMESH_INVALID_RULE", message: e } : undefined;
};

/**
 * Istio's security.ValidateAttribute for a `when` key: returns an error message for an unsupported key, or
 * the check to run on each value.
 */
function conditionKey(key: string): { error?: string; check?: ValueCheck } {
  const mapKey = (name: string): { error?: string } => (hasMapKey(key) ? {} : { error: `key ${JSON.stringify(key)} must have the form ${name}[<name>]` });
  if (key.startsWith("request.headers")) return mapKey("request.headers");
  if (key.startsWith("request.experimental.inline.headers")) return mapKey("request.experimental.inline.headers");
  if (key.startsWith("request.auth.claims")) return mapKey("request.auth.claims");
  if (key.startsWith("experimental.envoy.filters.")) return mapKey("experimental.envoy.filters.<filter>");
  switch (key) {
    case "source.ip":
    case "remote.ip":
    case "destination.ip":
      return { check: ipValue };
    case "destination.port":
      return { check: portValue };
    case "source.serviceAccount":
      return { check: serviceAccountValue };
    case "source.namespace":
    case "source.principal":
    case "source.trustDomain":
    case "request.auth.principal":
    case "request.auth.audiences":
    case "request.auth.presenter":
    case "connection.sni":
      return {};
    case "destination.namespace":
      return { error: `attribute ${key} is not supported: the policy's own namespace (metadata.namespace) selects the destination namespace` };
    case "destination.name":
    case "destination.user":
      return { error: `attribute ${key} was only supported in the v1alpha1 RBAC API` };
  }
  if (key.startsWith("destination.labels")) return { error: `attribute ${key} is not supported: use the policy's workload selector instead` };
  return {
    error: `unknown attribute ${JSON.stringify(key)}; supported: request.headers[...], source.ip, remote.ip, source.namespace, source.principal, source.serviceAccount, source.trustDomain, request.auth.principal, request.auth.audiences, request.auth.presenter, request.auth.claims[...], destination.ip, destination.port, connection.sni, experimental.envoy.filters.*`,
  };
}

function checkNonEmptyValues(values: string[] | undefined, path: string, ctx: ValidationContext, check?: ValueCheck): void {
  values?.forEach((v, k) => {
    if (v === "") {
      ctx.error("TSMESH_INVALID_RULE", `${path}[${k}]`, "empty value not allowed");
      return;
    }
    const bad = check?.(v);
    if (bad) ctx.error(bad.code, `${path}[${k}]`, bad.message);
  });
}

const nonEmpty = (a: unknown[] | undefined): boolean => Array.isArray(a) && a.length > 0;

function checkSource(src: Source, path: string, custom: boolean, ctx: ValidationContext): void {
  if (!SOURCE_FIELDS.some((f) => nonEmpty(src[f])))
    ctx.error("TSMESH_INVALID_RULE", path, "source must set at least one field (e.g. principals, namespaces, serviceAccounts, ipBlocks)");
  for (const field of SOURCE_FIELDS) {
    const check = IP_SOURCE_FIELDS.has(field) ? ipValue : SERVICE_ACCOUNT_FIELDS.has(field) ? serviceAccountValue : undefined;
    checkNonEmptyValues(src[field], `${path}.${field}`, ctx, check);
  }
  if (custom)
    for (const field of CUSTOM_UNSUPPORTED_SOURCE)
      if (nonEmpty(src[field])) ctx.error("TSMESH_INVALID_RULE", `${path}.${field}`, `${field} is not supported with the CUSTOM action`);
}

function checkOperation(op: Operation, path: string, ctx: ValidationContext): void {
  if (!OPERATION_FIELDS.some((f) => nonEmpty(op[f])))
    ctx.error("TSMESH_INVALID_RULE", path, "operation must set at least one field (hosts, ports, methods, paths or their not* forms)");
  for (const field of ["ports", "notPorts"] as const) checkNonEmptyValues(op[field], `${path}.${field}`, ctx, portValue);
  for (const field of ["hosts", "notHosts"] as const) {
    checkNonEmptyValues(op[field], `${path}.${field}`, ctx);
    op[field]?.forEach((h, k) => {
      if (h.length > 1 && h.slice(1, -1).includes("*"))
        ctx.warn("TSMESH_SUSPICIOUS", `${path}.${field}[${k}]`, `host ${JSON.stringify(h)}: "*" is only a wildcard as the first or last character; elsewhere it matches a literal "*"`);
    });
  }
  for (const field of ["methods", "notMethods"] as const) {
    checkNonEmptyValues(op[field], `${path}.${field}`, ctx);
    op[field]?.forEach((m, k) => {
      if (m !== m.toUpperCase() && HTTP_METHODS.has(m.toUpperCase()))
        ctx.warn("TSMESH_SUSPICIOUS", `${path}.${field}[${k}]`, `methods are case-sensitive: ${JSON.stringify(m)} never matches; use ${JSON.stringify(m.toUpperCase())}`);
    });
  }
  for (const field of ["paths", "notPaths"] as const) {
    checkNonEmptyValues(op[field], `${path}.${field}`, ctx);
    op[field]?.forEach((p, k) => {
      if (p === "") return;
      const e = checkPathTemplate(p);
      if (e) ctx.error("TSMESH_INVALID_RULE", `${path}.${field}[${k}]`, e);
      else if (!p.startsWith("/") && !p.startsWith("*"))
        ctx.warn("TSMESH_SUSPICIOUS", `${path}.${field}[${k}]`, `path ${JSON.stringify(p)} does not start with "/" (or a "*" wildcard), so it never matches a request path`);
    });
  }
}

function checkCondition(cond: Condition, path: string, custom: boolean, ctx: ValidationContext): void {
  const key = cond.key;
  if (key === "") {
    ctx.error("TSMESH_INVALID_RULE", `${path}.key`, "key must not be empty");
    return;
  }
  if (!nonEmpty(cond.values) && !nonEmpty(cond.notValues)) {
    ctx.error("TSMESH_INVALID_RULE", path, `condition on ${JSON.stringify(key)} must set values or notValues`);
    return;
  }
  const attr = conditionKey(key);
  if (attr.error) ctx.error("TSMESH_INVALID_RULE", `${path}.key`, attr.error);
  else {
    checkNonEmptyValues(cond.values, `${path}.values`, ctx, attr.check);
    checkNonEmptyValues(cond.notValues, `${path}.notValues`, ctx, attr.check);
  }
  if (custom && (key === "source.namespace" || key === "source.serviceAccount" || key === "source.principal" || key.startsWith("request.auth.")))
    ctx.error("TSMESH_INVALID_RULE", `${path}.key`, `key ${key} is not supported with the CUSTOM action`);
}

function checkRule(rule: AuthorizationRule, path: string, action: string, ctx: ValidationContext): void {
  const custom = action === "CUSTOM";
  let fromExists = false;
  let toExists = false;
  let tcpInFrom = false;
  let tcpInTo = false;
  if (Array.isArray(rule.from) && rule.from.length === 0)
    ctx.error("TSMESH_INVALID_RULE", `${path}.from`, "`from` must not be empty: remove it (any source) or add at least one source");
  rule.from?.forEach((from, j) => {
    const p = `${path}.from[${j}]`;
    if (!from?.source) {
      ctx.error("TSMESH_INVALID_RULE", `${p}.source`, "`from` entry must set `source`");
      return;
    }
    fromExists = true;
    checkSource(from.source, `${p}.source`, custom, ctx);
    if (TCP_SOURCE_FIELDS.some((f) => nonEmpty(from.source?.[f]))) tcpInFrom = true;
  });
  if (Array.isArray(rule.to) && rule.to.length === 0)
    ctx.error("TSMESH_INVALID_RULE", `${path}.to`, "`to` must not be empty: remove it (any operation) or add at least one operation");
  rule.to?.forEach((to, j) => {
    const p = `${path}.to[${j}]`;
    if (!to?.operation) {
      ctx.error("TSMESH_INVALID_RULE", `${p}.operation`, "`to` entry must set `operation`");
      return;
    }
    toExists = true;
    checkOperation(to.operation, `${p}.operation`, ctx);
    if (nonEmpty(to.operation.ports) || nonEmpty(to.operation.notPorts)) tcpInTo = true;
  });
  rule.when?.forEach((cond, j) => {
    if (cond) checkCondition(cond, `${path}.when[${j}]`, custom, ctx);
  });
  if (action === "DENY" && ((fromExists && !toExists && !tcpInFrom) || (toExists && !tcpInTo)))
    ctx.warn(
      "TSMESH_SUSPICIOUS",
      path,
      "this DENY rule uses only HTTP attributes, so it denies all traffic to TCP ports in its scope; add `ports` to the operation to limit it",
    );
}

export const validateAuthorizationPolicy: SemanticValidator<"AuthorizationPolicy"> = (resource, ctx) => {
  const spec = resource.spec;
  checkPolicyAttachment(spec, ctx);
  checkDryRunAnnotation(resource, ctx);
  const action = spec.action ?? "ALLOW";
  const noRules = !nonEmpty(spec.rules);
  if (action === "CUSTOM") {
    if (noRules)
      ctx.error("TSMESH_INVALID_RULE", "spec.rules", "CUSTOM action without rules is never triggered; add an empty rule `{}` to apply it to every request");
    if (!spec.provider?.name)
      ctx.error("TSMESH_INVALID_RULE", spec.provider ? "spec.provider.name" : "spec.provider", "CUSTOM action requires provider.name (an extension provider defined in MeshConfig)");
  } else if (spec.provider) {
    ctx.error("TSMESH_INVALID_RULE", "spec.provider", `provider is only allowed with action CUSTOM, found ${action}`);
  }
  if (action === "DENY" && noRules)
    ctx.error("TSMESH_INVALID_RULE", "spec.rules", "DENY action without rules is never triggered; add an empty rule `{}` to deny every request");
  spec.rules?.forEach((rule, i) => {
    if (rule) checkRule(rule, `spec.rules[${i}]`, action, ctx);
    else ctx.error("TSMESH_INVALID_RULE", `spec.rules[${i}]`, "rule must not be null; use `{}` to match every request");
  });
};

// ---------------------------------------------------------------------------------------------
// PeerAuthentication

export const validatePeerAuthentication: SemanticValidator<"PeerAuthentication"> = (resource, ctx) => {
  const spec = resource.spec;
  checkPolicyAttachment(spec, ctx, { checkKinds: false });
  checkDryRunAnnotation(resource, ctx);
  for (const [port, setting] of Object.entries(spec.portLevelMtls ?? {})) {
    const path = `spec.portLevelMtls[${port}]`;
    if (!/^\d+$/.test(port)) {
      ctx.error("TSMESH_INVALID_PORT", path, `port key ${JSON.stringify(port)} must be a decimal port number 1..65535`);
      continue;
    }
    if (!setting?.mode || setting.mode === "UNSET")
      ctx.warn("TSMESH_SUSPICIOUS", `${path}.mode`, `mode is UNSET, so port ${port} just inherits the workload's mode and this entry has no effect`);
  }
};

// ---------------------------------------------------------------------------------------------
// RequestAuthentication

const JWK_KTY_FIELDS: Record<string, string[]> = { RSA: ["n", "e"], EC: ["crv", "x", "y"], oct: ["k"], OKP: ["crv", "x"] };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkJwk(key: unknown, where: string): string | undefined {
  if (!isRecord(key)) return `${where} must be a JSON object`;
  if (typeof key.kty !== "string") return `${where} has no "kty" (key type)`;
  const required = JWK_KTY_FIELDS[key.kty];
  if (!required) return `${where} has unsupported kty ${JSON.stringify(key.kty)} (expected RSA, EC, oct or OKP)`;
  const missing = required.filter((f) => typeof key[f] !== "string");
  if (missing.length) return `${where} (kty ${key.kty}) is missing ${missing.map((f) => JSON.stringify(f)).join(", ")}`;
  return undefined;
}

/** What jwk.Parse accepts: a JWK Set (`{"keys": [...]}`) or a single JWK. Returns an error message. */
function checkJwks(jwks: string): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(jwks);
  } catch (err) {
    return `jwks is not valid JSON: ${(err as Error).message}`;
  }
  if (!isRecord(doc)) return "jwks must be a JSON object: a JWK Set {\"keys\": [...]} or a single JWK";
  if ("keys" in doc) {
    if (!Array.isArray(doc.keys)) return "jwks \"keys\" must be an array of JWKs";
    for (let i = 0; i < doc.keys.length; i++) {
      const e = checkJwk(doc.keys[i], `jwks key ${i}`);
      if (e) return e;
    }
    return undefined;
  }
  return checkJwk(doc, "jwks");
}

/** Istio's security.ParseJwksURI (the CRD already checks the scheme). */
function checkJwksUri(uri: string): { error?: string; warning?: string } {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return { error: `jwksUri ${JSON.stringify(uri)} is not a valid URL` };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    return { error: `jwksUri scheme ${JSON.stringify(url.protocol.slice(0, -1))} is not supported; use http or https` };
  if (url.hostname === "") return { warning: `jwksUri ${JSON.stringify(uri)} has no host, so the keys cannot be fetched` };
  return {};
}

function checkHeaderName(name: string, path: string, ctx: ValidationContext): void {
  const e = headerNameControlChars(name);
  if (e) ctx.error("TSMESH_INVALID_VALUE", path, e);
  else if (name !== "" && !HTTP_TOKEN.test(name))
    ctx.warn("TSMESH_SUSPICIOUS", path, `header name ${JSON.stringify(name)} contains characters that are not valid in an HTTP header name`);
}

function checkJwtRule(rule: JWTRule, path: string, ctx: ValidationContext): void {
  const uriField = rule.jwksUri !== undefined ? "jwksUri" : "jwks_uri";
  const jwksUri = rule.jwksUri ?? rule.jwks_uri;
  if (!rule.issuer && !jwksUri)
    ctx.error("TSMESH_INVALID_RULE", `${path}.issuer`, "issuer is required (it may be left out only when jwksUri is set)");
  if (jwksUri) {
    const r = checkJwksUri(jwksUri);
    if (r.error) ctx.error("TSMESH_INVALID_VALUE", `${path}.${uriField}`, r.error);
    if (r.warning) ctx.warn("TSMESH_SUSPICIOUS", `${path}.${uriField}`, r.warning);
  }
  if (rule.jwks) {
    const e = checkJwks(rule.jwks);
    if (e) ctx.error("TSMESH_INVALID_VALUE", `${path}.jwks`, e);
  }
  rule.fromHeaders?.forEach((h, i) => checkHeaderName(h.name, `${path}.fromHeaders[${i}].name`, ctx));
  if (rule.outputPayloadToHeader) checkHeaderName(rule.outputPayloadToHeader, `${path}.outputPayloadToHeader`, ctx);
  const seen = new Map<string, number>();
  rule.outputClaimToHeaders?.forEach((c, i) => {
    const header = c.header.toLowerCase();
    const first = seen.get(header);
    if (first !== undefined)
      ctx.warn("TSMESH_SUSPICIOUS", `${path}.outputClaimToHeaders[${i}].header`, `header ${JSON.stringify(c.header)} is already written by outputClaimToHeaders[${first}]; only one claim ends up in it`);
    else seen.set(header, i);
  });
  if (rule.timeout !== undefined) {
    const e = checkDuration(rule.timeout);
    if (e) ctx.error("TSMESH_INVALID_DURATION", `${path}.timeout`, e);
  }
}

export const validateRequestAuthentication: SemanticValidator<"RequestAuthentication"> = (resource, ctx) => {
  const spec = resource.spec;
  checkPolicyAttachment(spec, ctx);
  checkDryRunAnnotation(resource, ctx);
  spec.jwtRules?.forEach((rule, i) => {
    if (rule) checkJwtRule(rule, `spec.jwtRules[${i}]`, ctx);
  });
};
