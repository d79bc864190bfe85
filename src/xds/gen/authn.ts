// Placeholder (lead drops at merge): authn-gen's branch provides the real jwtAuthnFilter.
import type { HttpFilter } from "../../envoy/types.js";
import type { PushContext } from "../../model/push-context.js";
import type { Proxy } from "../../model/proxy.js";

export function jwtAuthnFilter(_proxy: Proxy, _push: PushContext): HttpFilter | undefined {
  return undefined;
}
