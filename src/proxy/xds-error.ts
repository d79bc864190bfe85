// The one error type for xDS resources the proxy cannot turn into runtime form. The proxy NACKs
// with `message` (`virtualHosts[0].routes[2].match.safeRegex.regex: invalid regular expression …`)
// and keeps serving its last good config.

/** A decoded xDS resource that cannot be used: `path` is the field path inside the resource. */
export class XdsConfigError extends Error {
  constructor(
    readonly path: string,
    /** What is wrong there (the message without the path). */
    readonly detail: string,
  ) {
    super(path ? `${path}: ${detail}` : detail);
    this.name = "XdsConfigError";
  }

  /** The same error with `prefix` (the resource it sits in, e.g. `ClusterLoadAssignment web: `) before its path. */
  within(prefix: string): XdsConfigError {
    return new XdsConfigError(`${prefix}${this.path}`, this.detail);
  }
}
