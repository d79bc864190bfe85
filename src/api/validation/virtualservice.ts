// Istio's semantic validation for VirtualService (to be written).
import type { SemanticValidator } from "./context.js";

export const validateVirtualService: SemanticValidator<"VirtualService"> = () => {};
