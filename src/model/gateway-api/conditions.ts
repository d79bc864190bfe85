// The Gateway API's status vocabulary as istiod writes it (pilot/pkg/config/kube/gateway
// conditions.go): condition types, Istio's reasons, and the error a conversion step reports.

/** istiod's controller name, in GatewayClass.spec.controllerName and every route parent status. */
export const ISTIO_CONTROLLER = "istio.io/gateway-controller";

/** The GatewayClass istiod serves without one being written (it creates it on install). */
export const ISTIO_CLASS = "istio";

/** A Kubernetes metav1.Condition, without the timestamps tsmesh's status providers add. */
export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  observedGeneration?: number;
}

/** Why a conversion step failed (istiod's ConfigError): a reason from the Gateway API or Istio's own. */
export interface ConfigError {
  reason: string;
  message: string;
}

// Route parent reasons (gateway.networking.k8s.io RouteConditionReason).
export const RouteReason = {
  Accepted: "Accepted",
  ResolvedRefs: "ResolvedRefs",
  NoMatchingParent: "NoMatchingParent",
  NotAllowedByListeners: "NotAllowedByListeners",
  NoMatchingListenerHostname: "NoMatchingListenerHostname",
  BackendNotFound: "BackendNotFound",
  RefNotPermitted: "RefNotPermitted",
  InvalidKind: "InvalidKind",
} as const;

// Istio's own reasons (conditions.go ConfigErrorReason).
export const IstioReason = {
  InvalidDestination: "InvalidDestination",
  InvalidFilter: "InvalidFilter",
  InvalidConfiguration: "InvalidConfiguration",
} as const;

// Gateway and listener reasons.
export const GatewayReason = {
  Accepted: "Accepted",
  Programmed: "Programmed",
  Invalid: "Invalid",
  AddressNotAssigned: "AddressNotAssigned",
  ResolvedRefs: "ResolvedRefs",
  NoConflicts: "NoConflicts",
  UnsupportedProtocol: "UnsupportedProtocol",
  InvalidCertificateRef: "InvalidCertificateRef",
  RefNotPermitted: "RefNotPermitted",
  InvalidRouteKinds: "InvalidRouteKinds",
  InvalidCACertificateRef: "InvalidCACertificateRef",
  InvalidCACertificateKind: "InvalidCACertificateKind",
  NoValidCACertificate: "NoValidCACertificate",
  InvalidClientCertificateRef: "InvalidClientCertificateRef",
  InvalidParameters: "InvalidParameters",
  ListenersNotValid: "ListenersNotValid",
  ConfigurationChanged: "ConfigurationChanged",
  UnsupportedAddress: "UnsupportedAddress",
} as const;

export function condition(type: string, ok: boolean, reason: string, message: string): Condition {
  return { type, status: ok ? "True" : "False", reason, message };
}

/** Errors in a backend reference keep the route (the backend answers 500); others drop the rule. */
export function isInvalidBackend(e: ConfigError): boolean {
  return e.reason === RouteReason.BackendNotFound || e.reason === RouteReason.RefNotPermitted || e.reason === RouteReason.InvalidKind;
}
