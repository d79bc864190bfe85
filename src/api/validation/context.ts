// What a kind's semantic validator receives: the resource and a place to put problems.
import { diagnostic, type Diagnostic, type ErrorCode } from "../../core/errors.js";
import type { IstioKind, Resource } from "../resource.js";

export class ValidationContext {
  readonly diagnostics: Diagnostic[] = [];

  /** Rejects the resource: `path` is the full field path, e.g. `spec.http[0].route[1].weight`. */
  error(code: ErrorCode, path: string, message: string): void {
    this.diagnostics.push({ ...diagnostic(code, path, message), severity: "error" });
  }

  /** Reports but keeps the resource (Istio's validation warnings). */
  warn(code: ErrorCode, path: string, message: string): void {
    this.diagnostics.push({ ...diagnostic(code, path, message), severity: "warning" });
  }

  get hasErrors(): boolean {
    return this.diagnostics.some((d) => d.severity === "error");
  }
}

/**
 * Istio's semantic rules for one kind (pkg/config/validation). Runs only after the resource passed
 * structural (schema) validation, so field types match the generated spec types; values may still be
 * anything the schema allows.
 */
export type SemanticValidator<K extends IstioKind> = (resource: Resource<K>, ctx: ValidationContext) => void;
