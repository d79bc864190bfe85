// Reading fields of decoded Envoy messages (the typed-object form of src/envoy/protos.ts) with
// checks that name the field's path in the error the proxy NACKs with.
import { durationMs, type ProtoObject } from "../../envoy/protos.js";
import { XdsConfigError } from "../xds-error.js";

export type P = ProtoObject;
export const EMPTY: readonly never[] = Object.freeze([]);
export const NO_CONFIGS: Readonly<Record<string, ProtoObject>> = Object.freeze({});

export function at(base: string, field: string): string {
  return base ? `${base}.${field}` : field;
}

export function isObj(v: unknown): v is P {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

export function objField(o: P, k: string, path: string): P | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) throw new XdsConfigError(at(path, k), "expected a message");
  return v;
}

export function strField(o: P, k: string, path: string): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new XdsConfigError(at(path, k), "expected a string");
  return v;
}

export function boolField(o: P, k: string, path: string): boolean {
  const v = o[k];
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") throw new XdsConfigError(at(path, k), "expected a bool");
  return v;
}

export function numField(o: P, k: string, path: string): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  const n = typeof v === "string" && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n)) throw new XdsConfigError(at(path, k), "expected a number");
  return n;
}

export function listField(o: P, k: string, path: string): readonly unknown[] {
  const v = o[k];
  if (v === undefined || v === null) return EMPTY;
  if (!Array.isArray(v)) throw new XdsConfigError(at(path, k), "expected a list");
  return v;
}

export function objList(o: P, k: string, path: string): P[] {
  return listField(o, k, path).map((v, i) => {
    if (!isObj(v)) throw new XdsConfigError(`${at(path, k)}[${i}]`, "expected a message");
    return v;
  });
}

export function strList(o: P, k: string, path: string): string[] {
  return listField(o, k, path).map((v, i) => {
    if (typeof v !== "string") throw new XdsConfigError(`${at(path, k)}[${i}]`, "expected a string");
    return v;
  });
}

/** google.protobuf.UInt32Value & co: `{ value }` (a plain number is accepted too). */
export function wrappedNum(o: P, k: string, path: string): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v === "number") return v;
  if (isObj(v)) return numField(v, "value", at(path, k)) ?? 0;
  throw new XdsConfigError(at(path, k), "expected a wrapped number");
}

export function wrappedBool(o: P, k: string, path: string): boolean | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v === "boolean") return v;
  if (isObj(v)) return boolField(v, "value", at(path, k));
  throw new XdsConfigError(at(path, k), "expected a BoolValue");
}

const DURATION_TEXT = /^(-?\d+(?:\.\d+)?)s$/;

/** google.protobuf.Duration in ms: `{seconds, nanos}` (or the JSON form "1.5s"); undefined when absent. */
export function durField(o: P, k: string, path: string): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  let ms: number | undefined;
  if (typeof v === "string") {
    const m = DURATION_TEXT.exec(v);
    ms = m ? Number(m[1]) * 1000 : undefined;
  } else if (isObj(v)) ms = durationMs(v);
  if (ms === undefined || !Number.isFinite(ms)) throw new XdsConfigError(at(path, k), "expected a duration");
  if (ms < 0) throw new XdsConfigError(at(path, k), "duration must not be negative");
  return ms;
}

export function enumField<T extends string>(o: P, k: string, path: string, values: readonly T[]): T {
  const v = o[k];
  if (v === undefined || v === null) return values[0];
  if (typeof v === "number" && v >= 0 && v < values.length) return values[v];
  const found = values.find((x) => x === v);
  if (found === undefined) throw new XdsConfigError(at(path, k), `unknown value ${JSON.stringify(v)}`);
  return found;
}
