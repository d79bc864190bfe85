// Typed Istio resources: Kubernetes object metadata plus each kind's spec (generated from the CRDs).
import type * as gen from "./gen/types.js";

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

/** `Kind namespace/name`, the way messages name a resource. */
export function resourceName(r: { kind: string; metadata: { name?: string; namespace?: string } }): string {
  return `${r.kind} ${r.metadata.namespace ?? "default"}/${r.metadata.name ?? "<unnamed>"}`;
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
