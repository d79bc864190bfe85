// Istio's analyzer message types (istioctl analyze codes), the subset tsmesh reports, and tsmesh's
// own (TSM…) where Istio has none.
export type Level = "Error" | "Warning" | "Info";

export const MESSAGE_TYPES = {
  IST0101: { name: "ReferencedResourceNotFound", level: "Error" },
  IST0104: { name: "GatewayPortNotDefinedOnService", level: "Warning" },
  IST0106: { name: "SchemaValidationError", level: "Error" },
  IST0109: { name: "ConflictingMeshGatewayVirtualServiceHosts", level: "Error" },
  IST0128: { name: "NoServerCertificateVerificationDestinationLevel", level: "Warning" },
  IST0129: { name: "NoServerCertificateVerificationPortLevel", level: "Warning" },
  IST0130: { name: "VirtualServiceUnreachableRule", level: "Warning" },
  IST0131: { name: "VirtualServiceIneffectiveMatch", level: "Info" },
  IST0132: { name: "VirtualServiceHostNotFoundInGateway", level: "Warning" },
  IST0127: { name: "NoMatchingWorkloadsFound", level: "Warning" },
  IST0133: { name: "SchemaWarning", level: "Warning" },
  IST0149: { name: "JwtClaimBasedRoutingWithoutRequestAuthN", level: "Error" },
  IST0151: { name: "EnvoyFilterUsesRelativeOperation", level: "Warning" },
  IST0152: { name: "EnvoyFilterUsesReplaceOperationIncorrectly", level: "Error" },
  IST0153: { name: "EnvoyFilterUsesAddOperationIncorrectly", level: "Error" },
  IST0154: { name: "EnvoyFilterUsesRemoveOperationIncorrectly", level: "Error" },
  IST0155: { name: "EnvoyFilterUsesRelativeOperationWithProxyVersion", level: "Warning" },
  IST0157: { name: "InvalidTelemetryProvider", level: "Warning" },
  IST0160: { name: "MultipleTelemetriesWithoutWorkloadSelectors", level: "Error" },
  // tsmesh's own, where istioctl has no analyzer.
  TSM0001: { name: "JwksUriUnreachable", level: "Warning" },
  TSM0002: { name: "AuthorizationPolicyServiceAccountNotFound", level: "Warning" },
  TSM0003: { name: "AuthorizationPolicyIdentityWithMtlsDisabled", level: "Warning" },
  TSM0004: { name: "AuthorizationPolicyIdentityWithPlaintextPeers", level: "Info" },
  TSM0005: { name: "AuthorizationPolicyUnknownProvider", level: "Error" },
  TSM0006: { name: "EnvoyFilterHasNoEffect", level: "Warning" },
  TSM0007: { name: "EnvoyFilterNotApplied", level: "Error" },
  TSM0008: { name: "EnvoyFilterDnsClusterOfMeshHost", level: "Warning" },
  TSM0020: { name: "TelemetryUnknownProvider", level: "Error" },
  TSM0021: { name: "TelemetryProviderNotImplemented", level: "Warning" },
  TSM0022: { name: "TelemetryProviderServiceNotFound", level: "Error" },
} as const satisfies Record<string, { name: string; level: Level }>;

export type MessageCode = keyof typeof MESSAGE_TYPES;

export interface AnalysisMessage {
  code: MessageCode;
  name: string;
  level: Level;
  /** `Kind namespace/name` of the resource the message is about. */
  resource: string;
  file?: string;
  line?: number;
  /** Field path within the resource, when the message is about one field. */
  path?: string;
  message: string;
}

export const LEVEL_RANK: Record<Level, number> = { Info: 0, Warning: 1, Error: 2 };
