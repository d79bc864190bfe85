// Typed Istio (and Kubernetes Gateway API) resources: Kubernetes object metadata plus each kind's
// spec (generated from the CRDs). `kind` is Istio's internal kind name (KubernetesGateway for
// gateway.networking.k8s.io's Gateway); YAML and messages spell it as `yamlKind` says.
import type * as gen from "./gen/types.js";
import type { KubeServiceSpec } from "./kube-service.js";
import { KIND_GROUPS } from "./gen/types.js";

export interface ObjectMeta {
  name: string;
  /** Defaults to "default" when the YAML leaves it out, as kubectl does. */
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  generation?: number;
  resourceVersion?: string;
  uid?: string;
  creationTimestamp?: string;
}

export interface SpecByKind {
  VirtualService: gen.VirtualServiceSpec;
  DestinationRule: gen.DestinationRuleSpec;
  Gateway: gen.GatewaySpec;
  ServiceEntry: gen.ServiceEntrySpec;
  WorkloadEntry: gen.WorkloadEntrySpec;
  WorkloadGroup: gen.WorkloadGroupSpec;
  Sidecar: gen.SidecarSpec;
  EnvoyFilter: gen.EnvoyFilterSpec;
  ProxyConfig: gen.ProxyConfigSpec;
  PeerAuthentication: gen.PeerAuthenticationSpec;
  AuthorizationPolicy: gen.AuthorizationPolicySpec;
  RequestAuthentication: gen.RequestAuthenticationSpec;
  Telemetry: gen.TelemetrySpec;
  WasmPlugin: gen.WasmPluginSpec;
  TrafficExtension: gen.TrafficExtensionSpec;
  // The Kubernetes Gateway API (gateway.networking.k8s.io), by Istio's internal kind names.
  GatewayClass: gen.GatewayClassSpec;
  KubernetesGateway: gen.KubernetesGatewaySpec;
  HTTPRoute: gen.HTTPRouteSpec;
  GRPCRoute: gen.GRPCRouteSpec;
  TCPRoute: gen.TCPRouteSpec;
  TLSRoute: gen.TLSRouteSpec;
  ReferenceGrant: gen.ReferenceGrantSpec;
  // Kubernetes' core/v1 Service (the mesh's services, as istiod's Kubernetes registry reads them).
  Service: KubeServiceSpec;
}

export type IstioKind = keyof SpecByKind;

export interface Resource<K extends IstioKind = IstioKind> {
  apiVersion: string;
  kind: K;
  metadata: ObjectMeta;
  spec: SpecByKind[K];
}

export type AnyResource = { [K in IstioKind]: Resource<K> }[IstioKind];

/** Where a resource came from, so every message can point back at it. */
export interface SourceRef {
  file: string;
  /** Index of the document within the file, from 0. */
  index: number;
  /** 1-based line where the document starts. */
  line: number;
}

/**
 * The kind as messages print it: its YAML name, with the group when the internal name differs
 * (`Gateway.gateway.networking.k8s.io`, as kubectl tells same-named kinds apart).
 */
export function displayKind(kind: string): string {
  const g = (KIND_GROUPS as Record<string, readonly [string, string] | undefined>)[kind];
  return g && g[1] !== kind ? `${g[1]}.${g[0]}` : kind;
}

/** `Kind namespace/name`, the way messages name a resource. */
export function resourceName(r: { kind: string; metadata: { name?: string; namespace?: string } }): string {
  return `${displayKind(r.kind)} ${r.metadata.namespace ?? "default"}/${r.metadata.name ?? "<unnamed>"}`;
}

/** Store key: kind, namespace and name identify a resource. */
export function resourceKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

// Names later issues use for the pieces of a spec.
export type HTTPRoute = NonNullable<gen.VirtualServiceSpec["http"]>[number];
export type HTTPMatchRequest = NonNullable<HTTPRoute["match"]>[number];
export type HTTPRouteDestination = NonNullable<HTTPRoute["route"]>[number];
export type Destination = HTTPRouteDestination["destination"];
export type TCPRoute = NonNullable<gen.VirtualServiceSpec["tcp"]>[number];
export type TLSRoute = NonNullable<gen.VirtualServiceSpec["tls"]>[number];
export type StringMatch = NonNullable<HTTPMatchRequest["uri"]>;
export type TrafficPolicy = NonNullable<gen.DestinationRuleSpec["trafficPolicy"]>;
export type Subset = NonNullable<gen.DestinationRuleSpec["subsets"]>[number];
export type GatewayServer = NonNullable<gen.GatewaySpec["servers"]>[number];
export type ServicePort = NonNullable<gen.ServiceEntrySpec["ports"]>[number];
export type AuthorizationRule = NonNullable<gen.AuthorizationPolicySpec["rules"]>[number];
export type JWTRule = NonNullable<gen.RequestAuthenticationSpec["jwtRules"]>[number];
