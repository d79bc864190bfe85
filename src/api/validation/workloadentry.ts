// Istio's semantic validation for WorkloadEntry, WorkloadGroup (to be written).
import type { SemanticValidator } from "./context.js";

export const validateWorkloadEntry: SemanticValidator<"WorkloadEntry"> = () => {};
export const validateWorkloadGroup: SemanticValidator<"WorkloadGroup"> = () => {};
