// Envoy's extension registries: every extension point of the proxy (HTTP filters, network
// filters, listener filters, transport sockets, access loggers, cluster types…) finds its
// implementation by the typed_config's type URL, as Envoy's factory registry does. A type the proxy
// does not implement is an error naming the field and the type (Envoy's "Didn't find a registered
// implementation for 'NAME' with type URL: 'TYPE'") — the bootstrap is refused, an xDS update is
// NACKed and the last good config keeps serving — unless the config marks it `is_optional`, then it
// is skipped, logged and counted. Never silently: a security filter that does not run must never be
// mistaken for one that does.
import { TYPE_PREFIX } from "../envoy/protos.js";
import { XdsConfigError } from "./xds-error.js";

/** The type URL's message name (`type.googleapis.com/a.b.C` → `a.b.C`), as Envoy prints it. */
export function typeName(typeUrl: string): string {
  const slash = typeUrl.lastIndexOf("/");
  return slash >= 0 ? typeUrl.slice(slash + 1) : typeUrl;
}

/** The parts of an Any that name its type, in either form the decoders leave it. */
interface AnyTypeFields {
  "@type"?: unknown;
  type_url?: unknown;
  typeUrl?: unknown;
}

/**
 * An Any's type URL ("" when the Any or its type is missing): its "@type" once decoded, else the
 * type URL of the raw form a payload no loaded schema knows is left in (`{ type_url, value }` from
 * the wire decoder; `typeUrl` where a decoder camel-cases it), so errors always name the type.
 */
export function anyType(any: unknown): string {
  if (any === null || typeof any !== "object") return "";
  const a = any as AnyTypeFields;
  for (const t of [a["@type"], a.type_url, a.typeUrl]) if (typeof t === "string" && t !== "") return t;
  return "";
}

/** Whether an Any was decoded (`"@type"` beside its fields), not left raw. */
function isDecodedAny(any: unknown): boolean {
  return any !== null && typeof any === "object" && typeof (any as AnyTypeFields)["@type"] === "string";
}

/** Envoy's error for a type no registered extension implements. */
export function unknownExtension(path: string, name: string, typeUrl: string): XdsConfigError {
  return new XdsConfigError(path, `Didn't find a registered implementation for '${name}' with type URL: '${typeName(typeUrl)}'`);
}

/** Where skipped optional extensions are reported (a log line and a counter). */
export interface SkipReporter {
  skipped(path: string, name: string, typeUrl: string): void;
}

/**
 * One extension point: implementations registered by the type URLs of their config messages. The
 * entry type E says what an implementation provides (a filter factory builder, a logger…).
 */
export class ExtensionRegistry<E> {
  private readonly byType = new Map<string, E>();

  constructor(readonly kind: string) {}

  /** Registers `entry` for each config type (full URLs or bare message names). */
  register(types: readonly string[], entry: E): this {
    for (const t of types) {
      const url = t.includes("/") ? t : TYPE_PREFIX + t;
      if (this.byType.has(url)) throw new Error(`${this.kind}: ${typeName(url)} registered twice`);
      this.byType.set(url, entry);
    }
    return this;
  }

  get(typeUrl: string): E | undefined {
    return this.byType.get(typeUrl.includes("/") ? typeUrl : TYPE_PREFIX + typeUrl);
  }

  /**
   * The implementation for a decoded Any's type. A raw Any (its payload left undecoded) never
   * matches, even when its type_url names a registered type: the implementation would read fields
   * that are not there.
   */
  forAny(any: unknown): E | undefined {
    return isDecodedAny(any) ? this.byType.get(anyType(any)) : undefined;
  }

  /** The config types the proxy implements at this extension point (for docs and errors). */
  types(): string[] {
    return [...this.byType.keys()].map(typeName).sort();
  }

  /**
   * The implementation for an extension config (`{ name, typed_config, is_optional }`): the entry,
   * `undefined` for an optional one the proxy lacks (reported to `skips`), or an XdsConfigError at
   * `path` (Envoy's message) for a required one.
   */
  resolve(path: string, name: string, typedConfig: unknown, isOptional: boolean, skips: SkipReporter | undefined): E | undefined {
    const entry = this.forAny(typedConfig);
    if (entry !== undefined) return entry;
    const url = anyType(typedConfig);
    if (isOptional) {
      skips?.skipped(path, name, url);
      return undefined;
    }
    throw unknownExtension(path, name, url);
  }
}
