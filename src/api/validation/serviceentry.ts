// Istio's semantic validation for ServiceEntry (to be written).
import type { SemanticValidator } from "./context.js";

export const validateServiceEntry: SemanticValidator<"ServiceEntry"> = () => {};
