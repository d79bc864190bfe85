// Header-name predicates of ext_authz, compiled from ListStringMatchers as Envoy's HeaderKeyMatcher
// / NotHeaderKeyMatcher do: which request headers go into a check, which check-response headers
// reach the upstream request or the client. Names are matched lowercase (as Envoy stores them).
import type { envoy } from "../../envoy/types.js";
import { StringMatcher } from "../http/matchers/matchers.js";

/** Does this (lowercase) header name match? */
export type HeaderMatch = (name: string) => boolean;

export const MATCH_NONE: HeaderMatch = () => false;
export const MATCH_ALL: HeaderMatch = () => true;

function exact(name: string): envoy.type.matcher.v3.StringMatcher {
  return { exact: name };
}

/** Any of the list's patterns plus the `always` names; none when both are empty. */
export function anyOf(list: envoy.type.matcher.v3.ListStringMatcher | undefined, path: string, always: readonly string[] = []): HeaderMatch {
  const patterns = [...(list?.patterns ?? []), ...always.map(exact)];
  if (patterns.length === 0) return MATCH_NONE;
  const ms = patterns.map((p, i) => StringMatcher.compile(p, `${path}.patterns[${i}]`));
  return (name) => ms.some((m) => m.match(name));
}

/** Envoy's client matchers: empty list → every header but Host; else the list plus :status, content-length, www-authenticate, location. */
export function clientMatch(list: envoy.type.matcher.v3.ListStringMatcher | undefined, path: string): HeaderMatch {
  if ((list?.patterns ?? []).length === 0) return (name) => name !== "host";
  return anyOf(list, path, [":status", "content-length", "www-authenticate", "location"]);
}
