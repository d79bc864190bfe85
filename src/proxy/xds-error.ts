// The one error type for xDS resources the proxy cannot turn into runtime form. The proxy NACKs
// with `message` (`virtualHosts[0].routes[2].match.safeRegex.regex: invalid regular expression …`)
// and keeps serving its last good config.

/** A decoded xDS resource that cannot be used: `path` is the field path inside the resource. */
export class XdsConfigError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(path ? `${path}: ${message}` : message);
    this.name = "XdsConfigError";
  }
}
