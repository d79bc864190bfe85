// Istio's side of the ADS server (pilot/pkg/xds generators keyed by type URL): turns a connected
// node into a Proxy and, per push, asks the Envoy-form or proxyless-gRPC generators for the
// resources a watch covers. Objects shared across proxies are encoded once (encodeResource memo).
// Secrets (SDS over ADS, istiod's SecretGen) come from the credentials folder: only names the proxy
// may read (xds/gen/secrets.ts), refusals logged once per proxy and name. EnvoyFilters patch a
// proxy's listeners, clusters and routes once per push (xds/gen/envoyfilter), all of a filter or
// none of it; a filter withheld is logged once per proxy and reason.
import { encodeResource, type EncodedResource } from "../envoy/encoded.js";
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from "../envoy/protos.js";
import type { XdsResource } from "../envoy/types.js";
import { parseProxy, type Proxy } from "../model/proxy.js";
import { labelsKey, type PushContext } from "../model/push-context.js";
import { applyEnvoyFilters, type EnvoyFilterOutcome, type ResourceValidator } from "../xds/gen/envoyfilter/apply.js";
import { buildClusters } from "../xds/gen/clusters.js";
import { EndpointsBuilder } from "../xds/gen/endpoints.js";
import { buildGrpcClusters, buildGrpcListeners, buildGrpcRoutes } from "../xds/gen/grpc.js";
import { buildListeners } from "../xds/gen/listeners.js";
import { buildRouteConfigurations } from "../xds/gen/routes.js";
import type { CallerIdentity } from "../security/authenticator.js";
import { buildSecret, parseSecretResourceName, secretDenial, secretDependencies, type CredentialSource } from "../xds/gen/secrets.js";
import { routeHashPolicy } from "../xds/gen/traffic-policy.js";
import type { GenerateResult, PushRequest, WatchedResource, XdsGenerator, XdsNode } from "../xds/server/types.js";

/** A connected proxy: the parsed node plus what the control plane learned about it. */
export interface ConnectedProxy {
  proxy: Proxy;
  node: XdsNode;
  peer: string;
  /** Labels sent in node metadata (when empty, the WorkloadEntry at the proxy's IP supplies them). */
  metadataLabels: Readonly<Record<string, string>>;
  /** Who the stream's credential proved the caller is (istiod's VerifiedIdentity); undefined without one. */
  verifiedIdentity?: CallerIdentity;
}

const encodedLists = new WeakMap<readonly XdsResource[], EncodedResource[]>();

/** A memoized generator list, encoded (once per list identity; the last of a duplicated name wins, as in `named`). */
function encodedList(typeUrl: string, objects: readonly XdsResource[]): EncodedResource[] {
  let out = encodedLists.get(objects);
  if (!out) {
    out = [...named(objects)].map(([name, obj]) => encodeResource(typeUrl, name, obj));
    encodedLists.set(objects, out);
  }
  return out;
}

export interface ProxyLifecycle {
  connect(proxy: Proxy): void;
  disconnect(proxy: Proxy): void;
}

/** A resource's name: `name`, or a ClusterLoadAssignment's `clusterName`. */
function resourceName(r: XdsResource): string {
  const { name, clusterName } = r as { name?: string; clusterName?: string };
  return String(name ?? clusterName);
}

function named(objects: readonly XdsResource[]): Map<string, XdsResource> {
  const m = new Map<string, XdsResource>();
  for (const o of objects) m.set(resourceName(o), o);
  return m;
}

// Config kinds that cannot change a type's output, from what the generators read (istiod's
// skippedCdsConfigs/skippedEdsConfigs/…, narrowed to tsmesh): clusters and endpoints never read
// VirtualServices or Gateways; PeerAuthentication shapes clusters (auto mTLS), endpoints (their
// tlsMode metadata) and inbound listeners, not routes; RequestAuthentication shapes the jwt_authn
// filter and AuthorizationPolicy the RBAC / ext_authz filters of inbound and gateway listeners only
// (claim routes are built from VirtualServices whether or not a policy exists, as Istio's); Telemetry
// shapes listeners only (access logs, tracing, istio.stats); nothing reads WorkloadGroup. A generator that starts reading a kind must drop
// it from these sets (generator.test.ts checks the claims).
const NOT_READ_BY_ANY = ["WorkloadGroup"];
/** Policies (and Telemetry) only listeners read. */
const LISTENER_POLICIES = ["RequestAuthentication", "AuthorizationPolicy", "Telemetry"];
// "Secret" is a credential in the credentials folder: only the Secret type reads those. The Secret
// type reads credentials and, for sidecars' grants, DestinationRules (see secretNeedsPush).
const SKIPPED_KINDS: Readonly<Record<string, ReadonlySet<string>>> = {
  [CLUSTER_TYPE]: new Set(["VirtualService", "Gateway", "Secret", ...LISTENER_POLICIES, ...NOT_READ_BY_ANY]),
  [ENDPOINT_TYPE]: new Set(["VirtualService", "Gateway", "Secret", "EnvoyFilter", ...LISTENER_POLICIES, ...NOT_READ_BY_ANY]),
  [LISTENER_TYPE]: new Set(["Secret", ...NOT_READ_BY_ANY]),
  [ROUTE_TYPE]: new Set(["Secret", "PeerAuthentication", ...LISTENER_POLICIES, ...NOT_READ_BY_ANY]),
};

const REQUEST_AUTHENTICATION = "RequestAuthentication";

/** The config kind of a credential, in PushRequest.configKinds and configsUpdated keys (`Secret/NS/NAME`). */
export const SECRET_KIND = "Secret";

export class IstioGenerator implements XdsGenerator<ConnectedProxy> {
  /** ClusterLoadAssignments cached across pushes (invalidated per host on EDS-only pushes). */
  readonly endpoints = new EndpointsBuilder();
  private readonly connected = new Set<ConnectedProxy>();

  /** Told about every proxy that connects and disconnects (auto-registration); connect may throw to refuse it. */
  lifecycle: ProxyLifecycle | undefined;

  /**
   * Secrets (keys) go only to streams whose verified identity is in the proxy's namespace, as istiod
   * requires an authenticated connection for them; set when the control plane runs the CA.
   */
  requireVerifiedIdentity = false;

  /** Where credentialName secrets come from (the credentials folder); none: no Secret is served. */
  credentials: CredentialSource | undefined;

  /** Told about each Secret a proxy asked for and does not get (refused, missing): once per proxy and name. */
  onSecretError: ((message: string) => void) | undefined;

  /**
   * Checks an EnvoyFilter-patched resource as the proxy would (the CLI injects the proxy's own
   * decoders and compilers); without one, patched resources need only encode.
   */
  envoyFilterValidator: ResourceValidator | undefined;

  /** Told about each EnvoyFilter withheld from a proxy (with why): once per proxy and reason. */
  onEnvoyFilterError: ((message: string) => void) | undefined;

  /** Per proxy id: the EnvoyFilter problems already reported. */
  private readonly envoyFilterErrorsShown = new Map<string, Set<string>>();

  /** Per proxy: the secret problems already reported ("name\0reason"). */
  private readonly secretErrorsShown = new WeakMap<ConnectedProxy, Set<string>>();

  connect(node: XdsNode, peer: string, identity?: unknown): ConnectedProxy {
    const proxy = parseProxy(node);
    const cp: ConnectedProxy = { proxy, node, peer, metadataLabels: proxy.labels, verifiedIdentity: identity as CallerIdentity | undefined };
    this.lifecycle?.connect(proxy);
    this.connected.add(cp);
    return cp;
  }

  disconnect(cp: ConnectedProxy): void {
    this.connected.delete(cp);
    this.envoyFilterErrorsShown.delete(cp.proxy.id);
    this.lifecycle?.disconnect(cp.proxy);
  }

  /** Proxies with an open stream (for the EDS-only decision and debug pages). */
  proxies(): ConnectedProxy[] {
    return [...this.connected];
  }

  /** Call before pushing a new PushContext: keeps or drops cached endpoints. */
  beginPush(push: PushContext, request: Pick<PushRequest, "full">, changedHosts?: ReadonlySet<string>): void {
    this.endpoints.beginPush(push, { full: request.full, changedHosts: changedHosts ? new Set(changedHosts) : undefined });
  }

  /** Brings the proxy's labels in step with the push (WorkloadEntry labels when the node sent none). */
  refreshProxy(cp: ConnectedProxy, push: PushContext): Proxy {
    if (Object.keys(cp.metadataLabels).length === 0) {
      cp.proxy.labels = push.workloadLabels(cp.proxy) ?? {};
    }
    return cp.proxy;
  }

  needsPush(cp: ConnectedProxy, typeUrl: string, request: PushRequest, watch?: WatchedResource): boolean {
    if (typeUrl === SECRET_TYPE) return this.secretNeedsPush(cp, request, watch);
    const kinds = request.configKinds;
    const skipped = SKIPPED_KINDS[typeUrl];
    if (!kinds || kinds.size === 0 || !skipped) return true;
    for (const k of kinds) {
      if (skipped.has(k)) continue;
      if (kinds.size === 1 && k === REQUEST_AUTHENTICATION) return this.requestAuthenticationApplies(cp, request);
      return true;
    }
    return false;
  }

  /**
   * A push for named RequestAuthentications only (a JWKS istiod fetched changed): the proxies one of
   * them applies to. Unknown names (a store change) reach every proxy.
   */
  private requestAuthenticationApplies(cp: ConnectedProxy, request: PushRequest): boolean {
    const updated = request.configsUpdated;
    const push = request.context as PushContext | undefined;
    if (!updated || !push) return true;
    const proxy = this.refreshProxy(cp, push);
    return push.requestAuthentications
      .forWorkload({ namespace: proxy.namespace, labels: proxy.labels })
      .some((ra) => updated.has(`${REQUEST_AUTHENTICATION}/${ra.metadata.namespace}/${ra.metadata.name}`));
  }

  /**
   * istiod's sdsNeedsPush, narrowed to the watch: credential changes reach only proxies that watch
   * one of the changed names (NAME and NAME-cacert go together); DestinationRule changes may grant
   * or withdraw a sidecar's credential.
   */
  private secretNeedsPush(cp: ConnectedProxy, request: PushRequest, watch: WatchedResource | undefined): boolean {
    const kinds = request.configKinds;
    if (!kinds || kinds.size === 0) return true;
    if (kinds.has("DestinationRule") && cp.proxy.type !== "router") return true;
    if (!kinds.has(SECRET_KIND)) return false;
    const updated = request.configsUpdated;
    if (!updated || !watch) return true;
    for (const n of watch.names) {
      const ref = parseSecretResourceName(n, cp.proxy.namespace);
      if ("error" in ref) continue;
      if (secretDependencies(ref).some((k) => updated.has(`${SECRET_KIND}/${k}`))) return true;
    }
    return false;
  }

  /** The Secrets of a watch the proxy may read and that exist; refusals and misses go to `problem`. */
  secrets(proxy: Proxy, push: PushContext, watch: WatchedResource, problem?: (name: string, reason: string) => void, caller?: CallerIdentity | null): Map<string, XdsResource> {
    const out = new Map<string, XdsResource>();
    // A stream (caller given, null when it proved nothing) must have proved the proxy's namespace;
    // the debug dump (caller undefined) shows what the proxy would get, keys redacted.
    const unverified =
      this.requireVerifiedIdentity && caller !== undefined && (caller === null || caller.namespace !== proxy.namespace)
        ? caller === null
          ? "the stream presented no valid workload credential (authorization: Bearer): keys go only to authenticated proxies"
          : `the stream's credential is for namespace ${caller.namespace}, the proxy says ${proxy.namespace}`
        : undefined;
    // Secrets are only ever served by name: a wildcard watch lists none (as istiod's SecretGen).
    for (const n of watch.names) {
      const ref = parseSecretResourceName(n, proxy.namespace);
      if ("error" in ref) {
        problem?.(n, ref.error);
        continue;
      }
      const denied = unverified ?? secretDenial(proxy, ref, push);
      if (denied) {
        problem?.(n, `refused: ${denied}`);
        continue;
      }
      const built = this.credentials ? buildSecret(ref, this.credentials) : { error: "no credentials folder is configured (--credentials-dir)" };
      if ("error" in built) problem?.(n, built.error);
      else out.set(n, built.secret);
    }
    return out;
  }

  private reportSecretProblem(cp: ConnectedProxy, name: string, reason: string): void {
    let shown = this.secretErrorsShown.get(cp);
    if (!shown) this.secretErrorsShown.set(cp, (shown = new Set()));
    const id = `${name}\0${reason}`;
    if (shown.has(id)) return;
    shown.add(id);
    this.onSecretError?.(`proxy ${cp.proxy.id} asked for secret ${name}: ${reason}`);
  }

  generate(cp: ConnectedProxy, typeUrl: string, watch: WatchedResource, request: PushRequest): GenerateResult | undefined {
    const push = request.context as PushContext | undefined;
    if (!push) return { resources: [] };
    const proxy = this.refreshProxy(cp, push);
    if (typeUrl === SECRET_TYPE) {
      const secrets = this.secrets(proxy, push, watch, (n, reason) => this.reportSecretProblem(cp, n, reason), cp.verifiedIdentity ?? null);
      return { resources: [...secrets].map(([name, obj]) => encodeResource(typeUrl, name, obj)) };
    }
    // The common Envoy-form case, wildcard CDS/LDS: the generators' memoized lists straight to
    // their encoded form (no per-proxy name maps).
    if (watch.wildcard && proxy.generator !== "grpc" && (typeUrl === CLUSTER_TYPE || typeUrl === LISTENER_TYPE)) {
      const patched = this.envoyFiltered(proxy, push);
      if (typeUrl === CLUSTER_TYPE) return { resources: encodedList(typeUrl, patched?.clusters ?? buildClusters(proxy, push)), distinctNames: true };
      if (typeUrl === LISTENER_TYPE) return { resources: encodedList(typeUrl, patched?.listeners ?? buildListeners(proxy, push)), distinctNames: true };
    }
    const objects = this.objects(proxy, push, typeUrl, watch, request);
    if (!objects) return undefined;
    const resources: EncodedResource[] = [];
    for (const [name, obj] of objects) resources.push(encodeResource(typeUrl, name, obj));
    return { resources };
  }

  /**
   * The proxy's listeners, clusters and routes with the EnvoyFilters that select it applied, once
   * per push and selection; undefined when none selects it (the generators' output stands).
   */
  envoyFiltered(proxy: Proxy, push: PushContext): EnvoyFilterOutcome | undefined {
    if (proxy.generator === "grpc" || push.envoyFilters.empty) return undefined;
    const sel = push.envoyFilters.forProxy(proxy);
    if (!sel) return undefined;
    return push.memo(`envoyfilter/${proxy.id}/${labelsKey(proxy.labels)}/${sel.key}`, () => {
      const base = { listeners: buildListeners(proxy, push), clusters: buildClusters(proxy, push), routes: buildRouteConfigurations(proxy, push, undefined, { hashPolicy: this.hashPolicy(proxy, push) }) };
      const outcome = applyEnvoyFilters(proxy, push, sel, base, this.envoyFilterValidator);
      for (const [ef, errs] of outcome.errors) this.reportEnvoyFilterProblem(proxy, `EnvoyFilter ${ef.key} is not applied to proxy ${proxy.id}: ${errs.join("; ")}`);
      for (const [ef, warns] of outcome.warnings) this.reportEnvoyFilterProblem(proxy, `EnvoyFilter ${ef.key} on proxy ${proxy.id}: ${warns.join("; ")}`);
      return outcome;
    });
  }

  private hashPolicy(proxy: Proxy, push: PushContext) {
    return (host: string, port: number, subset: string | undefined) => routeHashPolicy(push, proxy, host, port, subset);
  }

  private reportEnvoyFilterProblem(proxy: Proxy, message: string): void {
    let shown = this.envoyFilterErrorsShown.get(proxy.id);
    if (!shown) this.envoyFilterErrorsShown.set(proxy.id, (shown = new Set()));
    if (shown.has(message)) return;
    shown.add(message);
    this.onEnvoyFilterError?.(message);
  }

  /** The typed objects (by name) a watch covers; used by the ADS path and /debug/config_dump. */
  objects(proxy: Proxy, push: PushContext, typeUrl: string, watch: WatchedResource, request?: Pick<PushRequest, "full" | "edsUpdates">): Map<string, XdsResource> | undefined {
    const grpc = proxy.generator === "grpc";
    const wanted = (all: Map<string, XdsResource>): Map<string, XdsResource> => {
      if (watch.wildcard) return all;
      const out = new Map<string, XdsResource>();
      for (const n of watch.names) {
        const o = all.get(n);
        if (o) out.set(n, o);
      }
      return out;
    };
    // Only the types EnvoyFilters patch (an endpoints-only push must not build listeners).
    const patched = typeUrl === CLUSTER_TYPE || typeUrl === LISTENER_TYPE || typeUrl === ROUTE_TYPE ? this.envoyFiltered(proxy, push) : undefined;
    switch (typeUrl) {
      case CLUSTER_TYPE:
        return wanted(named(grpc ? buildGrpcClusters(proxy, push, [...watch.names]) : (patched?.clusters ?? buildClusters(proxy, push))));
      case LISTENER_TYPE:
        return wanted(named(grpc ? buildGrpcListeners(proxy, push, [...watch.names]) : (patched?.listeners ?? buildListeners(proxy, push))));
      case ROUTE_TYPE: {
        const names = watch.wildcard ? undefined : [...watch.names];
        const hashPolicy = this.hashPolicy(proxy, push);
        if (grpc) return wanted(named(buildGrpcRoutes(proxy, push, names ?? [])));
        if (!patched) return wanted(named(buildRouteConfigurations(proxy, push, names, { hashPolicy })));
        const all = named(patched.routes);
        // A name the generators do not list by themselves (e.g. an RDS name a patch added): built
        // by name and patched with the filters this proxy got.
        const missing = (names ?? []).filter((n) => !all.has(n));
        if (missing.length > 0) {
          const sel = push.envoyFilters.forProxy(proxy);
          const extra = buildRouteConfigurations(proxy, push, missing, { hashPolicy });
          const out = sel ? applyEnvoyFilters(proxy, push, { ...sel, filters: patched.applied }, { listeners: [], clusters: [], routes: extra }, this.envoyFilterValidator).routes : extra;
          for (const rc of out) all.set(String(rc.name), rc);
        }
        return wanted(all);
      }
      case ENDPOINT_TYPE: {
        const out = new Map<string, XdsResource>();
        const only = request && !request.full ? request.edsUpdates : undefined;
        // An endpoints-only push names a few clusters: walk those, not every watched name.
        const names = watch.wildcard ? [] : only ? [...only].filter((n) => watch.names.has(n)) : watch.names;
        for (const n of names) {
          const cla = this.endpoints.build(proxy, push, n);
          if (cla) out.set(n, cla);
        }
        return out;
      }
      case SECRET_TYPE:
        return this.secrets(proxy, push, watch);
      default:
        return undefined;
    }
  }
}
