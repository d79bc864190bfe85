// Istio's semantic validation, one validator per kind (registered here, written in the kind's module).
import type { IstioKind } from "../resource.js";
import type { SemanticValidator } from "./context.js";
import { validateVirtualService } from "./virtualservice.js";
import { validateGateway } from "./gateway.js";
import { validateDestinationRule } from "./destinationrule.js";
import { validateServiceEntry } from "./serviceentry.js";
import { validateWorkloadEntry, validateWorkloadGroup } from "./workloadentry.js";
import { validateSidecar } from "./sidecar.js";
import { validateAuthorizationPolicy, validatePeerAuthentication, validateRequestAuthentication } from "./security.js";
import { validateTelemetry } from "./telemetry.js";
import { validateService } from "./service.js";
import { validateEnvoyFilter, validateProxyConfig, validateTrafficExtension, validateWasmPlugin } from "./extensions.js";

export const semanticValidators: { [K in IstioKind]: SemanticValidator<K> } = {
  VirtualService: validateVirtualService,
  Gateway: validateGateway,
  DestinationRule: validateDestinationRule,
  ServiceEntry: validateServiceEntry,
  WorkloadEntry: validateWorkloadEntry,
  WorkloadGroup: validateWorkloadGroup,
  Sidecar: validateSidecar,
  AuthorizationPolicy: validateAuthorizationPolicy,
  PeerAuthentication: validatePeerAuthentication,
  RequestAuthentication: validateRequestAuthentication,
  Telemetry: validateTelemetry,
  EnvoyFilter: validateEnvoyFilter,
  WasmPlugin: validateWasmPlugin,
  ProxyConfig: validateProxyConfig,
  TrafficExtension: validateTrafficExtension,
  // The Gateway API's rules are all in its CRDs (schema and CEL, checked before these run); istiod's
  // webhook does not validate these kinds either: what it cannot convert is reported in their status.
  GatewayClass: () => undefined,
  KubernetesGateway: () => undefined,
  HTTPRoute: () => undefined,
  GRPCRoute: () => undefined,
  TCPRoute: () => undefined,
  TLSRoute: () => undefined,
  ReferenceGrant: () => undefined,
  Service: validateService,
};
