// Istio's semantic validation for AuthorizationPolicy, PeerAuthentication, RequestAuthentication (to be written).
import type { SemanticValidator } from "./context.js";

export const validateAuthorizationPolicy: SemanticValidator<"AuthorizationPolicy"> = () => {};
export const validatePeerAuthentication: SemanticValidator<"PeerAuthentication"> = () => {};
export const validateRequestAuthentication: SemanticValidator<"RequestAuthentication"> = () => {};
