// The proxy's own checks for EnvoyFilter-patched resources, handed to the control plane by `up` and
// `discovery` (the control plane never imports the proxy): a patched resource is encoded, decoded with the
// proxy's wire codec (as its ADS client decodes a response), then checked by a ProxyServer's
// validate — the very code that decides ACK or NACK (clusters, listeners with every network and
// HTTP filter compiled, routes, their field paths). The ProxyServer is never started: no sockets,
// no ADS, access logs off. A refusal withholds the EnvoyFilter from that proxy.
import { encodeMessage } from "../envoy/protos.js";
import { wireDecode } from "../envoy/wire.js";
import { ProxyServer } from "../proxy/proxy.js";
import { expandTypedStructs } from "../proxy/typed-struct.js";
import type { ResourceValidator } from "../xds/gen/envoyfilter/apply.js";

let checker: ProxyServer | undefined;

export const proxyResourceValidator: ResourceValidator = (typeUrl, name, resource) => {
  checker ??= new ProxyServer({ node: { id: "envoyfilter-validator" }, serveTraffic: false, log: () => {} });
  try {
    const object = wireDecode(typeUrl, encodeMessage(typeUrl, resource));
    // As the proxy's xDS decoder does: Istio's own filters arrive as TypedStructs.
    expandTypedStructs(object);
    return checker.validate(typeUrl, [{ name, version: "", object }]);
  } catch (err) {
    return (err as Error).message;
  }
};
