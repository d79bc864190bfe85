// Envoy's RBAC engine (envoy.config.rbac.v3.RBAC, source/extensions/filters/common/rbac), compiled
// once per config into closures: each Permission and Principal becomes a predicate over what one
// request or connection offers (RbacInput). As Envoy: a policy matches when any of its permissions
// and any of its principals match; policies are tried in the byte order of their names (Envoy keeps
// them in a std::map) and the first that matches is the effective policy; ALLOW allows when one
// matched, DENY when none did, LOG always allows and — when enforced, not shadow — records
// `envoy.common`/`access_log_hint` (whether one matched) in the dynamic metadata. Config the proxy
// cannot evaluate (CEL conditions, xDS matcher trees, custom matchers, filter state, audit loggers)
// is refused with its field path: a policy never silently matches more or less than Envoy's would.
import type * as tls from "node:tls";
import type { envoy, HeaderMatcher as HeaderMatcherMessage, TypedExtensionConfig } from "../../envoy/types.js";
import type { DynamicMetadata } from "../dynamic-metadata.js";
import { rfc2253, sansOf, certificatesOf } from "../http/cert-fields.js";
import { HeaderMatcher, StringMatcher } from "../http/matchers/matchers.js";
import { compileMetadataMatcher } from "../http/matchers/metadata.js";
import type { HeaderSource } from "../http/route-table.js";
import { XdsConfigError } from "../xds-error.js";
import { compileCidr } from "../cidr.js";
import { compileUriTemplate, pathWithoutQuery } from "./uri-template.js";

type Permission = envoy.config.rbac.v3.Permission;
type Principal = envoy.config.rbac.v3.Principal;
type RBAC = envoy.config.rbac.v3.RBAC;
type RbacAction = envoy.config.rbac.v3.RBAC.Action;
type PathMatcherMessage = envoy.type.matcher.v3.PathMatcher;
type MetadataMatcherMessage = envoy.type.matcher.v3.MetadataMatcher;

const URI_TEMPLATE_TYPE = "type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig";

/**
 * What a request (HTTP filter) or a connection (network filter) offers the matchers. Header
 * lookups join repeated headers with "," as Envoy's HeaderUtility does; a connection has no headers.
 */
export interface RbacInput extends HeaderSource {
  /** :path after the HCM's normalization, with its query; undefined on a connection. */
  readonly path: string | undefined;
  /** Downstream local address and port (destination_ip, destination_port). */
  readonly localAddress: string;
  readonly localPort: number;
  /** The connection's remote address (source_ip). */
  readonly remoteAddress: string;
  /** The socket's peer (direct_remote_ip). */
  readonly directRemoteAddress: string;
  /** Envoy's downstream remote address: the HCM's trusted client address (remote_ip). */
  readonly downstreamRemoteAddress: string;
  /** The TLS socket when the connection terminated TLS (authenticated). */
  readonly tls: tls.TLSSocket | undefined;
  /** The connection's SNI, "" without one (requested_server_name). */
  readonly requestedServerName: string;
  readonly dynamicMetadata: DynamicMetadata | undefined;
}

export type RbacMatcher = (input: RbacInput) => boolean;

/** The peer identity fields Envoy's AuthenticatedMatcher reads, parsed once per TLS socket. */
interface PeerIdentity {
  readonly uris: readonly string[];
  readonly dns: readonly string[];
  readonly subject: string;
}

const identities = new WeakMap<tls.TLSSocket, PeerIdentity>();

function peerIdentity(socket: tls.TLSSocket): PeerIdentity {
  let id = identities.get(socket);
  if (id === undefined) {
    const peer = certificatesOf(socket).peer;
    id = peer === undefined ? { uris: [], dns: [], subject: "" } : { uris: sansOf(peer.subjectAltName, "URI"), dns: sansOf(peer.subjectAltName, "DNS"), subject: rfc2253(peer.subject) };
    identities.set(socket, id);
  }
  return id;
}

/**
 * Envoy's requestedServerName: the SNI of the ClientHello — the terminated TLS socket's, else what
 * the listener's tls_inspector read from a TLS connection passed through — "" without one.
 */
export function requestedServerName(socket: tls.TLSSocket | undefined, inspected: string | undefined): string {
  const sni = socket?.servername;
  return typeof sni === "string" && sni !== "" ? sni : (inspected ?? "");
}

const ALWAYS: RbacMatcher = () => true;

function set<T>(items: readonly T[] | undefined, path: string, what: string, compile: (x: T, p: string) => RbacMatcher): RbacMatcher[] {
  const list = items ?? [];
  if (list.length === 0) throw new XdsConfigError(path, `${what} needs at least one entry`);
  return list.map((x, i) => compile(x, `${path}[${i}]`));
}

function and(ms: readonly RbacMatcher[]): RbacMatcher {
  if (ms.length === 1) return ms[0];
  return (i) => {
    for (const m of ms) if (!m(i)) return false;
    return true;
  };
}

function or(ms: readonly RbacMatcher[]): RbacMatcher {
  if (ms.length === 1) return ms[0];
  return (i) => {
    for (const m of ms) if (m(i)) return true;
    return false;
  };
}

function header(h: HeaderMatcherMessage, path: string): RbacMatcher {
  const m = HeaderMatcher.compile(h, path);
  return (i) => m.matches(i);
}

/** url_path: the path without query and fragment against the StringMatcher (no path: no match). */
function urlPath(p: PathMatcherMessage, path: string): RbacMatcher {
  if (p.path === undefined) throw new XdsConfigError(`${path}.path`, "PathMatcher needs path");
  const sm = StringMatcher.compile(p.path, `${path}.path`);
  return (i) => i.path !== undefined && sm.match(pathWithoutQuery(i.path));
}

function metadata(m: MetadataMatcherMessage, path: string): RbacMatcher {
  const mm = compileMetadataMatcher(m, path);
  return (i) => mm(i.dynamicMetadata);
}

function uriTemplate(c: TypedExtensionConfig, path: string): RbacMatcher {
  const tc = c.typedConfig as { "@type"?: string; pathTemplate?: string } | undefined;
  if (tc?.["@type"] !== URI_TEMPLATE_TYPE) throw new XdsConfigError(`${path}.typedConfig`, `Didn't find a registered implementation for '${c.name ?? ""}' with type URL: '${String(tc?.["@type"] ?? "")}'`);
  const m = compileUriTemplate(tc.pathTemplate ?? "", `${path}.typedConfig.pathTemplate`);
  return (i) => i.path !== undefined && m(i.path);
}

/** Compiles a Permission (Envoy's Matcher::create for permissions). */
export function compilePermission(p: Permission, path: string): RbacMatcher {
  if (p.andRules !== undefined) return and(set(p.andRules.rules, `${path}.andRules.rules`, "and_rules", compilePermission));
  if (p.orRules !== undefined) return or(set(p.orRules.rules, `${path}.orRules.rules`, "or_rules", compilePermission));
  if (p.any !== undefined) {
    if (p.any !== true) throw new XdsConfigError(`${path}.any`, "any must be true");
    return ALWAYS;
  }
  if (p.header !== undefined) return header(p.header, `${path}.header`);
  if (p.urlPath !== undefined) return urlPath(p.urlPath, `${path}.urlPath`);
  if (p.destinationIp !== undefined) {
    const c = compileCidr(p.destinationIp, `${path}.destinationIp`);
    return (i) => c(i.localAddress);
  }
  if (p.destinationPort !== undefined) {
    const port = p.destinationPort;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new XdsConfigError(`${path}.destinationPort`, `port ${port} is out of range`);
    return (i) => i.localPort === port;
  }
  if (p.destinationPortRange !== undefined) {
    const start = p.destinationPortRange.start ?? 0;
    const end = p.destinationPortRange.end ?? 0;
    const at = `${path}.destinationPortRange`;
    if (start < 0 || start > 65536) throw new XdsConfigError(at, `range start ${start} is out of bounds`);
    if (end < 0 || end > 65536) throw new XdsConfigError(at, `range end ${end} is out of bounds`);
    if (start >= end) throw new XdsConfigError(at, `range start ${start} cannot be greater or equal than range end ${end}`);
    return (i) => i.localPort >= start && i.localPort < end;
  }
  if (p.metadata !== undefined) return metadata(p.metadata, `${path}.metadata`);
  if (p.notRule !== undefined) {
    const m = compilePermission(p.notRule, `${path}.notRule`);
    return (i) => !m(i);
  }
  if (p.requestedServerName !== undefined) {
    const sm = StringMatcher.compile(p.requestedServerName, `${path}.requestedServerName`);
    return (i) => sm.match(i.requestedServerName);
  }
  if (p.uriTemplate !== undefined) return uriTemplate(p.uriTemplate, `${path}.uriTemplate`);
  if (p.matcher !== undefined) throw new XdsConfigError(`${path}.matcher`, "RBAC matcher extensions are not implemented by tsmesh");
  throw new XdsConfigError(path, "a permission needs one rule");
}

/** Compiles a Principal (Envoy's Matcher::create for principals). */
export function compilePrincipal(p: Principal, path: string): RbacMatcher {
  if (p.andIds !== undefined) return and(set(p.andIds.ids, `${path}.andIds.ids`, "and_ids", compilePrincipal));
  if (p.orIds !== undefined) return or(set(p.orIds.ids, `${path}.orIds.ids`, "or_ids", compilePrincipal));
  if (p.any !== undefined) {
    if (p.any !== true) throw new XdsConfigError(`${path}.any`, "any must be true");
    return ALWAYS;
  }
  if (p.authenticated !== undefined) {
    const pn = p.authenticated.principalName;
    // Any TLS connection when no name is given (Envoy checks only that the connection has TLS).
    if (pn === undefined) return (i) => i.tls !== undefined;
    const sm = StringMatcher.compile(pn, `${path}.authenticated.principalName`);
    return (i) => {
      if (i.tls === undefined) return false;
      const id = peerIdentity(i.tls);
      // URI SANs, then DNS SANs, then the subject, as Envoy's AuthenticatedMatcher.
      for (const u of id.uris) if (sm.match(u)) return true;
      for (const d of id.dns) if (sm.match(d)) return true;
      return sm.match(id.subject);
    };
  }
  if (p.sourceIp !== undefined) {
    const c = compileCidr(p.sourceIp, `${path}.sourceIp`);
    return (i) => c(i.remoteAddress);
  }
  if (p.directRemoteIp !== undefined) {
    const c = compileCidr(p.directRemoteIp, `${path}.directRemoteIp`);
    return (i) => c(i.directRemoteAddress);
  }
  if (p.remoteIp !== undefined) {
    const c = compileCidr(p.remoteIp, `${path}.remoteIp`);
    return (i) => c(i.downstreamRemoteAddress);
  }
  if (p.header !== undefined) return header(p.header, `${path}.header`);
  if (p.urlPath !== undefined) return urlPath(p.urlPath, `${path}.urlPath`);
  if (p.metadata !== undefined) return metadata(p.metadata, `${path}.metadata`);
  if (p.notId !== undefined) {
    const m = compilePrincipal(p.notId, `${path}.notId`);
    return (i) => !m(i);
  }
  if (p.filterState !== undefined) throw new XdsConfigError(`${path}.filterState`, "filter state is not implemented by tsmesh");
  throw new XdsConfigError(path, "a principal needs one identifier");
}

/** The outcome of one evaluation: allowed or not, and the policy that matched ("" for none). */
export interface RbacResult {
  readonly allowed: boolean;
  readonly policyId: string;
}

/** One compiled policy, with its two possible results made once (an evaluation allocates nothing). */
interface CompiledPolicy {
  readonly matches: RbacMatcher;
  readonly allowed: RbacResult;
  readonly denied: RbacResult;
}

const NO_MATCH_ALLOWED: RbacResult = Object.freeze({ allowed: true, policyId: "" });
const NO_MATCH_DENIED: RbacResult = Object.freeze({ allowed: false, policyId: "" });

export const ACCESS_LOG_HINT_NAMESPACE = "envoy.common";

/** A compiled RBAC: the policies in Envoy's order and the action. */
export class RbacEngine {
  constructor(
    readonly action: RbacAction,
    private readonly policies: readonly CompiledPolicy[],
    private readonly shadow: boolean,
  ) {}

  /** Envoy's handleAction: the first matching policy decides by the action. */
  evaluate(input: RbacInput): RbacResult {
    let matched: CompiledPolicy | undefined;
    for (const p of this.policies) {
      if (p.matches(input)) {
        matched = p;
        break;
      }
    }
    switch (this.action) {
      case "DENY":
        return matched === undefined ? NO_MATCH_ALLOWED : matched.denied;
      case "LOG":
        if (!this.shadow) input.dynamicMetadata?.set(ACCESS_LOG_HINT_NAMESPACE, { access_log_hint: matched !== undefined });
        return matched === undefined ? NO_MATCH_ALLOWED : matched.allowed;
      default:
        return matched === undefined ? NO_MATCH_DENIED : matched.allowed;
    }
  }
}

/** Byte order of UTF-8 names, as std::map<std::string> orders them. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Compiles an RBAC message (rules or shadow_rules); `shadow` engines never write the log hint. */
export function compileRbac(r: RBAC, path: string, shadow: boolean): RbacEngine {
  const action = r.action ?? "ALLOW";
  if (action !== "ALLOW" && action !== "DENY" && action !== "LOG") throw new XdsConfigError(`${path}.action`, `unknown action ${String(action)}`);
  const audit = r.auditLoggingOptions;
  // An audit condition without loggers logs nothing, as in Envoy; loggers are not implemented.
  if ((audit?.loggerConfigs?.length ?? 0) > 0) throw new XdsConfigError(`${path}.auditLoggingOptions.loggerConfigs`, "RBAC audit loggers are not implemented by tsmesh");
  const policies: CompiledPolicy[] = [];
  const names = Object.keys(r.policies ?? {}).sort(byteOrder);
  for (const name of names) {
    const p = r.policies![name];
    const at = `${path}.policies[${JSON.stringify(name)}]`;
    // CEL expressions reach the proxy undecoded: evaluating them is not implemented, and skipping
    // one would change what the policy matches, so the config is refused.
    if (p.condition !== undefined) throw new XdsConfigError(`${at}.condition`, "CEL conditions are not implemented by tsmesh");
    if (p.checkedCondition !== undefined) throw new XdsConfigError(`${at}.checkedCondition`, "CEL conditions are not implemented by tsmesh");
    const permissions = or(set(p.permissions, `${at}.permissions`, "permissions", compilePermission));
    const principals = or(set(p.principals, `${at}.principals`, "principals", compilePrincipal));
    policies.push({ matches: (i) => permissions(i) && principals(i), allowed: Object.freeze({ allowed: true, policyId: name }), denied: Object.freeze({ allowed: false, policyId: name }) });
  }
  return new RbacEngine(action, policies, shadow);
}
