// Istio's semantic validation for Gateway (to be written).
import type { SemanticValidator } from "./context.js";

export const validateGateway: SemanticValidator<"Gateway"> = () => {};
