// Istio's semantic validation for Telemetry (to be written).
import type { SemanticValidator } from "./context.js";

export const validateTelemetry: SemanticValidator<"Telemetry"> = () => {};
