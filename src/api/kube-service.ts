// core/v1 Service, the one Kubernetes workload-facing kind tsmesh reads (Istio's task pages apply
// them, e.g. bookinfo-versions.yaml): its kind entry (kubectl's names, no CRD describes it) and the
// structure of its spec as the API server's OpenAPI schema has it, so unknown fields, types and
// enums are refused with the API server's words. The rules beyond structure are in
// validation/service.ts; what the mesh makes of a Service is in registry/kube-service.ts.
import type { KindInfo } from "./kinds.js";
import type { OpenApiSchema } from "./schema.js";

export interface KubeServicePort {
  name?: string;
  protocol?: "TCP" | "UDP" | "SCTP";
  appProtocol?: string;
  port: number;
  /** A number, or the name of a port of the selected workloads (a WorkloadEntry's `ports` key). */
  targetPort?: number | string;
  nodePort?: number;
}

export interface KubeServiceSpec {
  type?: "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName";
  ports?: KubeServicePort[];
  selector?: Record<string, string>;
  clusterIP?: string;
  clusterIPs?: string[];
  externalName?: string;
  externalIPs?: string[];
  sessionAffinity?: "None" | "ClientIP";
  sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
  loadBalancerIP?: string;
  loadBalancerSourceRanges?: string[];
  loadBalancerClass?: string;
  allocateLoadBalancerNodePorts?: boolean;
  externalTrafficPolicy?: "Cluster" | "Local";
  internalTrafficPolicy?: "Cluster" | "Local";
  healthCheckNodePort?: number;
  publishNotReadyAddresses?: boolean;
  ipFamilies?: Array<"IPv4" | "IPv6">;
  ipFamilyPolicy?: "SingleStack" | "PreferDualStack" | "RequireDualStack";
  trafficDistribution?: string;
}

const str: OpenApiSchema = { type: "string" };
const int: OpenApiSchema = { type: "integer" };
const strings: OpenApiSchema = { type: "array", items: str };

const PORT: OpenApiSchema = {
  type: "object",
  required: ["port"],
  properties: {
    name: str,
    protocol: { type: "string", enum: ["SCTP", "TCP", "UDP"], default: "TCP" },
    appProtocol: str,
    port: int,
    targetPort: { "x-kubernetes-int-or-string": true },
    nodePort: int,
  },
};

const SPEC: OpenApiSchema = {
  type: "object",
  properties: {
    type: { type: "string", enum: ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"], default: "ClusterIP" },
    ports: { type: "array", items: PORT },
    selector: { type: "object", additionalProperties: str },
    clusterIP: str,
    clusterIPs: strings,
    externalName: str,
    externalIPs: strings,
    sessionAffinity: { type: "string", enum: ["ClientIP", "None"], default: "None" },
    sessionAffinityConfig: { type: "object", properties: { clientIP: { type: "object", properties: { timeoutSeconds: int } } } },
    loadBalancerIP: str,
    loadBalancerSourceRanges: strings,
    loadBalancerClass: str,
    allocateLoadBalancerNodePorts: { type: "boolean" },
    externalTrafficPolicy: { type: "string", enum: ["Cluster", "Local"] },
    internalTrafficPolicy: { type: "string", enum: ["Cluster", "Local"] },
    healthCheckNodePort: int,
    publishNotReadyAddresses: { type: "boolean" },
    ipFamilies: { type: "array", items: { type: "string", enum: ["IPv4", "IPv6"] } },
    ipFamilyPolicy: { type: "string", enum: ["PreferDualStack", "RequireDualStack", "SingleStack"] },
    trafficDistribution: str,
  },
};

/** The core group's Service: `svc`, `service(s)`, `services.v1`; in kubectl's category `all`. */
export const SERVICE_INFO: KindInfo = {
  kind: "Service",
  yamlKind: "Service",
  group: "",
  plural: "services",
  shortNames: ["svc"],
  versions: ["v1"],
  storageVersion: "v1",
  namespaced: true,
  categories: ["all"],
  printerColumns: [],
  schema: { type: "object", properties: { spec: SPEC, status: { type: "object", "x-kubernetes-preserve-unknown-fields": true } } },
};
