// Istio's semantic validation for DestinationRule (to be written).
import type { SemanticValidator } from "./context.js";

export const validateDestinationRule: SemanticValidator<"DestinationRule"> = () => {};
