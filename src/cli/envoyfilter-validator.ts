// The proxy's own checks for EnvoyFilter-patched resources, handed to the control plane by the CLI
// (the control plane never imports the proxy): a patched resource is encoded, decoded with the
// proxy's wire codec (its schema; an Any of a type it does not know fails here), then put through
// the proxy's cluster and route compilers and its listener reading. A refusal withholds the
// EnvoyFilter from that proxy. Not run here: the per-filter compile of network and HTTP filters
// (it needs a running proxy's runtime) — the proxy still NACKs such config, with the field path.
import { encodeMessage, CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE } from "../envoy/protos.js";
import type * as v3 from "../envoy/types.js";
import { wireDecode } from "../envoy/wire.js";
import { compileRoutes } from "../proxy/http/route-glue.js";
import { listenerSpec } from "../proxy/listener-spec.js";
import { clusterSpec } from "../proxy/upstream/cluster-config.js";
import type { ResourceValidator } from "../xds/gen/envoyfilter/apply.js";

export const proxyResourceValidator: ResourceValidator = (typeUrl, _name, resource) => {
  try {
    const decoded = wireDecode(typeUrl, encodeMessage(typeUrl, resource));
    if (typeUrl === CLUSTER_TYPE) clusterSpec(decoded as v3.Cluster);
    else if (typeUrl === LISTENER_TYPE) listenerSpec(decoded as v3.Listener);
    else if (typeUrl === ROUTE_TYPE) compileRoutes(decoded as v3.RouteConfiguration);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
};
