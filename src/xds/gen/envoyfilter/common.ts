// What the EnvoyFilter patchers share (Istio's envoyfilter/util.go): the patch set of a proxy,
// context matching, MERGE vs MERGE_AND_REPLACE_LIST, the ordered-list inserts, and the two
// callbacks every patcher reports through: a patch that took effect somewhere (for "matches
// nothing" analysis) and a patch whose result is invalid (the whole EnvoyFilter is then withheld).
import type { ApplyTo, CompiledPatch, PatchContext, PatchOperation } from "../../../model/envoyfilter.js";
import { cloneProto, mergeAny, protoMerge } from "../../../envoy/proto-merge.js";
import type { ProtoObject } from "../../../envoy/protos.js";

export type PatchSet = ReadonlyMap<ApplyTo, readonly CompiledPatch[]>;
/** Called when a patch matched something and changed the config. */
export type Used = (p: CompiledPatch) => void;
/** Called when a patch cannot be applied as written (message without the patch's path prefix). */
export type ReportPatch = (p: CompiledPatch, message: string) => void;

export function contextMatches(ctx: PatchContext, p: CompiledPatch): boolean {
  return p.context === "ANY" || p.context === ctx;
}

export function isMerge(op: PatchOperation): boolean {
  return op === "MERGE" || op === "MERGE_AND_REPLACE_LIST";
}

/** Istio's mergePatchValue: the patch value merged into `dst` (lists appended, or replaced for MERGE_AND_REPLACE_LIST). */
export function mergeValue(typeName: string, dst: ProtoObject, p: CompiledPatch, report: ReportPatch): void {
  if (!p.value) return;
  try {
    protoMerge(typeName, dst, p.value, p.operation === "MERGE_AND_REPLACE_LIST");
  } catch (err) {
    report(p, `patch.value: ${(err as Error).message}`);
  }
}

/**
 * Istio's MergeAnyWithAny into `target.typedConfig` (a filter's or a transport socket's) from
 * `src.typedConfig`; a type mismatch is reported against the patch at `where`. False when it failed.
 */
export function mergeTypedConfig(target: ProtoObject, src: ProtoObject, p: CompiledPatch, report: ReportPatch, where: string): boolean {
  if (!target.typedConfig || !src.typedConfig) return true;
  try {
    target.typedConfig = mergeAny(target.typedConfig as ProtoObject, src.typedConfig as ProtoObject);
    return true;
  } catch (err) {
    report(p, `${where}: ${(err as Error).message}`);
    return false;
  }
}

/**
 * The values of ADD patches of `applyTo` for a pass in context `ctx` (Istio's InsertedClusters and
 * listener adds): an ANY-context ADD only in the outbound and gateway passes, so it is added once.
 */
export function addedValues(applyTo: "CLUSTER" | "LISTENER", ctx: PatchContext, ps: PatchSet, used: Used): ProtoObject[] {
  const out: ProtoObject[] = [];
  for (const p of ps.get(applyTo) ?? []) {
    if (p.operation !== "ADD") continue;
    if (p.context === "ANY" && ctx !== "SIDECAR_OUTBOUND" && ctx !== "GATEWAY") continue;
    if (!contextMatches(ctx, p)) continue;
    used(p);
    out.push(cloneProto(p.value ?? {}));
  }
  return out;
}

type ListResult<E> = { list: E[]; applied: boolean };

/** Inserts `make()` before the first element `matches` accepts (Istio's insertBeforeFunc). */
export function insertBefore<E>(list: E[], matches: (e: E) => boolean, make: () => E): ListResult<E> {
  const i = list.findIndex(matches);
  if (i < 0) return { list, applied: false };
  return { list: [...list.slice(0, i), make(), ...list.slice(i)], applied: true };
}

/** Inserts `make()` after the first element `matches` accepts (Istio's insertAfterFunc). */
export function insertAfter<E>(list: E[], matches: (e: E) => boolean, make: () => E): ListResult<E> {
  const i = list.findIndex(matches);
  if (i < 0) return { list, applied: false };
  return { list: [...list.slice(0, i + 1), make(), ...list.slice(i + 1)], applied: true };
}

/** Replaces the first element `matches` accepts (Istio's replaceFunc). */
export function replaceFirst<E>(list: E[], matches: (e: E) => boolean, make: () => E): ListResult<E> {
  const i = list.findIndex(matches);
  if (i < 0) return { list, applied: false };
  const out = [...list];
  out[i] = make();
  return { list: out, applied: true };
}
