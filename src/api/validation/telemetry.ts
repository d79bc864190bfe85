// Istio's semantic validation for Telemetry (istio/istio pkg/config/validation: ValidateTelemetry,
// validateTelemetryMetrics/Tracing/AccessLogging). The CRD schema already enforces provider names,
// customMetric, tag override operation/value pairs, the customTag oneOf, sampling range and durations.
import { parse as parseCel } from "@bufbuild/cel";
import type { SemanticValidator } from "./context.js";
import { checkDryRunAnnotation, checkPolicyAttachment } from "./security.js";

/** Istio parses (does not type-check) the access-log filter with CEL. Returns an error message. */
function checkCelExpression(expr: string): string | undefined {
  if (expr.trim() === "") return "filter expression must not be empty; remove `filter` to log every request";
  try {
    parseCel(expr);
    return undefined;
  } catch (err) {
    return `filter expression is not valid CEL: ${(err as Error).message}`;
  }
}

export const validateTelemetry: SemanticValidator<"Telemetry"> = (resource, ctx) => {
  const spec = resource.spec;
  checkPolicyAttachment(spec, ctx);
  checkDryRunAnnotation(resource, ctx);

  spec.metrics?.forEach((metrics, i) => {
    metrics?.overrides?.forEach((override, j) => {
      const path = `spec.metrics[${i}].overrides[${j}]`;
      if (!override) {
        ctx.error("TSMESH_INVALID_VALUE", path, "metrics override must not be null");
        return;
      }
      for (const [tag, value] of Object.entries(override.tagOverrides ?? {})) {
        if (tag === "") ctx.warn("TSMESH_SUSPICIOUS", `${path}.tagOverrides[${tag}]`, "tag override name is empty");
        if (value === null || value === undefined) ctx.error("TSMESH_INVALID_VALUE", `${path}.tagOverrides[${tag}]`, `tag override ${JSON.stringify(tag)} must not be null`);
      }
    });
  });

  if ((spec.tracing?.length ?? 0) > 1)
    ctx.warn("TSMESH_SUSPICIOUS", "spec.tracing", "multiple tracing configurations are not supported; only the first one is used");
  spec.tracing?.forEach((tracing, i) => {
    if (!tracing) return;
    const path = `spec.tracing[${i}]`;
    if ((tracing.providers?.length ?? 0) > 1)
      ctx.warn("TSMESH_SUSPICIOUS", `${path}.providers`, "multiple tracing providers are not supported; only the first one is used");
    for (const [name, tag] of Object.entries(tracing.customTags ?? {})) {
      const tagPath = `${path}.customTags[${name}]`;
      if (name === "") ctx.error("TSMESH_INVALID_VALUE", tagPath, "custom tag name must not be empty");
      if (tag === null || tag === undefined) {
        ctx.error("TSMESH_INVALID_VALUE", tagPath, `custom tag ${JSON.stringify(name)} must not be null`);
        continue;
      }
      if (!tag.literal && !tag.environment && !tag.header && !tag.formatter)
        ctx.warn("TSMESH_SUSPICIOUS", tagPath, `custom tag ${JSON.stringify(name)} sets none of literal, environment, header or formatter, so it adds nothing`);
    }
  });

  spec.accessLogging?.forEach((logging, i) => {
    if (!logging?.filter) return;
    const e = checkCelExpression(logging.filter.expression ?? "");
    if (e) ctx.error("TSMESH_INVALID_VALUE", `spec.accessLogging[${i}].filter.expression`, e);
  });
};
