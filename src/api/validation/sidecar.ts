// Istio's semantic validation for Sidecar (to be written).
import type { SemanticValidator } from "./context.js";

export const validateSidecar: SemanticValidator<"Sidecar"> = () => {};
