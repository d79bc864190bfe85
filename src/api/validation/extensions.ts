// Istio's semantic validation for EnvoyFilter, WasmPlugin, ProxyConfig, TrafficExtension (to be written).
import type { SemanticValidator } from "./context.js";

export const validateEnvoyFilter: SemanticValidator<"EnvoyFilter"> = () => {};
export const validateWasmPlugin: SemanticValidator<"WasmPlugin"> = () => {};
export const validateProxyConfig: SemanticValidator<"ProxyConfig"> = () => {};
export const validateTrafficExtension: SemanticValidator<"TrafficExtension"> = () => {};
