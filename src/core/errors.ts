// One table of every error code tsmesh reports (fastify's habit): codes are stable, messages may
// improve. docs/errors.md lists the same codes; a test keeps the two in step.

export interface ErrorCodeInfo {
  /** One line a user reads next to the code. */
  readonly summary: string;
  /** "error" rejects a resource; "warning" is reported but the resource is kept. */
  readonly severity: "error" | "warning";
}

export const ERROR_CODES = {
  // Reading input
  TSMESH_FILE_READ: { summary: "A file or folder could not be read", severity: "error" },
  TSMESH_YAML_SYNTAX: { summary: "A document is not well-formed YAML or JSON", severity: "error" },
  TSMESH_DOC_NOT_OBJECT: { summary: "A document is not a mapping (object)", severity: "error" },
  TSMESH_MISSING_TYPE: { summary: "A document has no apiVersion or kind", severity: "error" },
  TSMESH_UNKNOWN_KIND: { summary: "The apiVersion/kind is not an Istio resource tsmesh knows", severity: "error" },
  TSMESH_UNSUPPORTED_VERSION: { summary: "The kind exists but not at this apiVersion", severity: "error" },
  TSMESH_NOT_READ: { summary: "A Kubernetes kind tsmesh does not read (Deployment, Pod, ServiceAccount…): the document is skipped", severity: "warning" },
  TSMESH_DUPLICATE_RESOURCE: { summary: "The same Kind namespace/name is defined more than once", severity: "error" },
  // Kubernetes object metadata
  TSMESH_METADATA_INVALID: { summary: "metadata.name, namespace, labels or annotations are invalid", severity: "error" },
  // Structural (OpenAPI schema of the CRD)
  TSMESH_SCHEMA_REQUIRED: { summary: "A required field is missing", severity: "error" },
  TSMESH_SCHEMA_TYPE: { summary: "A field has the wrong type", severity: "error" },
  TSMESH_SCHEMA_ENUM: { summary: "A field's value is not one of the allowed values", severity: "error" },
  TSMESH_SCHEMA_RANGE: { summary: "A number is out of its allowed range", severity: "error" },
  TSMESH_SCHEMA_LENGTH: { summary: "A string, list or map is too short or too long", severity: "error" },
  TSMESH_SCHEMA_PATTERN: { summary: "A string does not match its required pattern or format", severity: "error" },
  TSMESH_SCHEMA_UNKNOWN_FIELD: { summary: "A field is not part of the resource's schema", severity: "error" },
  TSMESH_SCHEMA_DUPLICATE: { summary: "A list holds the same item or key twice", severity: "error" },
  TSMESH_SCHEMA_ONEOF: { summary: "Fields that exclude each other are set together", severity: "error" },
  TSMESH_SCHEMA_RULE: { summary: "A CEL validation rule of the CRD does not hold", severity: "error" },
  // Istio's semantic validation (pkg/config/validation)
  TSMESH_INVALID_HOST: { summary: "A host or hostname is not valid here", severity: "error" },
  TSMESH_INVALID_PORT: { summary: "A port number or port name is not valid", severity: "error" },
  TSMESH_INVALID_DURATION: { summary: "A duration is malformed or out of range", severity: "error" },
  TSMESH_INVALID_REGEX: { summary: "A regular expression is not valid RE2", severity: "error" },
  TSMESH_INVALID_WEIGHT: { summary: "Route weights are out of range or do not add up", severity: "error" },
  TSMESH_INVALID_MATCH: { summary: "A match condition is malformed", severity: "error" },
  TSMESH_INVALID_ROUTE: { summary: "A route, redirect, rewrite or destination is inconsistent", severity: "error" },
  TSMESH_INVALID_SELECTOR: { summary: "A workload selector or label is not valid", severity: "error" },
  TSMESH_INVALID_ADDRESS: { summary: "An IP address, CIDR or socket address is not valid", severity: "error" },
  TSMESH_INVALID_POLICY: { summary: "A traffic, TLS, load-balancer or pool setting is not valid", severity: "error" },
  TSMESH_INVALID_RULE: { summary: "An authorization or authentication rule is malformed", severity: "error" },
  TSMESH_INVALID_VALUE: { summary: "A field's value is not valid", severity: "error" },
  TSMESH_DEPRECATED: { summary: "A field or form is deprecated; it still works", severity: "warning" },
  TSMESH_SUSPICIOUS: { summary: "Valid, but probably not what was meant", severity: "warning" },
  // What is accepted but not acted on yet (src/api/enforcement.ts)
  TSMESH_NOT_ENFORCED: { summary: "Accepted, but the kind or field is not enforced yet", severity: "warning" },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** One problem with one document, located as precisely as we can. */
export interface Diagnostic {
  code: ErrorCode;
  /** Field path inside the document, e.g. `spec.http[0].route[1].weight`; "" for the whole document. */
  path: string;
  message: string;
  severity: "error" | "warning";
}

export function diagnostic(code: ErrorCode, path: string, message: string): Diagnostic {
  return { code, path, message, severity: ERROR_CODES[code].severity };
}

/** An Error carrying a stable code, for failures outside resource validation (I/O, flags). */
export class TsmeshError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "TsmeshError";
  }
}
