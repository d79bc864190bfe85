// EnvoyFilter patches on listeners (Istio's envoyfilter/listener_patch.go): LISTENER (MERGE,
// REMOVE, ADD), LISTENER_FILTER, FILTER_CHAIN (MERGE with transport socket typed_config merge,
// REMOVE, ADD), NETWORK_FILTER and HTTP_FILTER (ADD, INSERT_BEFORE/AFTER/FIRST, REPLACE, REMOVE,
// MERGE of typed_config), with Istio's matching of listener (name, port), filter chain (name, sni,
// transport protocol, application protocols, destination port; virtual listeners by destination
// port), filter and sub-filter names. Works in place on copies the caller owns.
import type { CompiledPatch, PatchContext } from "../../../model/envoyfilter.js";
import { cloneProto } from "../../../envoy/proto-merge.js";
import type { ProtoObject } from "../../../envoy/protos.js";
import { HTTP_CONNECTION_MANAGER } from "../filters.js";
import { VIRTUAL_INBOUND_LISTENER, VIRTUAL_OUTBOUND_LISTENER } from "../names.js";
import { addedValues, contextMatches, insertAfter, insertBefore, isMerge, mergeTypedConfig, mergeValue, type PatchSet, replaceFirst, type ReportPatch, type Used } from "./common.js";

type Obj = ProtoObject;
const LISTENER = "envoy.config.listener.v3.Listener";
const FILTER_CHAIN = "envoy.config.listener.v3.FilterChain";
const HCM_URL = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const obj = (v: unknown): Obj | undefined => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : undefined);
const isVirtual = (l: Obj) => l.name === VIRTUAL_INBOUND_LISTENER || l.name === VIRTUAL_OUTBOUND_LISTENER;

function listenerMatch(l: Obj, p: CompiledPatch): boolean {
  const m = p.match.listener;
  if (!m) return true;
  if (m.name && m.name !== l.name) return false;
  if (p.applyTo !== "LISTENER" && isVirtual(l)) return true;
  if (m.portNumber) {
    const port = obj(obj(l.address)?.socketAddress)?.portValue;
    if (port !== m.portNumber) return false;
  }
  return true;
}

function filterChainMatch(l: Obj, fc: Obj, p: CompiledPatch): boolean {
  const lm = p.match.listener;
  if (!lm) return true;
  const fcm = obj(fc.filterChainMatch);
  const destPort = obj(fcm?.destinationPort)?.value;
  if (isVirtual(l) && (lm.portNumber ?? 0) > 0 && destPort !== lm.portNumber) return false;
  const m = lm.filterChain;
  if (!m) return true;
  if (m.name && m.name !== fc.name) return false;
  if (m.sni && !arr(fcm?.serverNames).includes(m.sni as never)) return false;
  if (m.transportProtocol && fcm?.transportProtocol !== m.transportProtocol) return false;
  if (m.applicationProtocols) {
    if (!fcm) return false;
    const have = arr(fcm.applicationProtocols) as unknown[];
    for (const ap of m.applicationProtocols.split(",")) if (!have.includes(ap)) return false;
  }
  if (m.destinationPort && destPort !== m.destinationPort) return false;
  return true;
}

const hasListenerFilterMatch = (p: CompiledPatch) => !!p.match.listener?.listenerFilter;
const hasNetworkFilterMatch = (p: CompiledPatch) => !!p.match.listener?.filterChain?.filter;
const hasHttpFilterMatch = (p: CompiledPatch) => hasNetworkFilterMatch(p) && !!p.match.listener?.filterChain?.filter?.subFilter;
const networkFilterMatch = (f: Obj, p: CompiledPatch) => !hasNetworkFilterMatch(p) || p.match.listener?.filterChain?.filter?.name === f.name;
const httpFilterMatch = (f: Obj, p: CompiledPatch) => !hasHttpFilterMatch(p) || p.match.listener?.filterChain?.filter?.subFilter?.name === f.name;
const listenerFilterMatch = (f: Obj, p: CompiledPatch) => !hasListenerFilterMatch(p) || p.match.listener?.listenerFilter === f.name;

/**
 * Ordered list operations shared by listener filters, network filters and HTTP filters (Istio
 * repeats the same switch for each). Returns the new list and whether the patch applied.
 */
function patchList(list: Obj[], p: CompiledPatch, hasMatch: boolean, matches: (e: Obj) => boolean): { list: Obj[]; applied: boolean } {
  const value = () => cloneProto(p.value ?? {});
  switch (p.operation) {
    case "ADD":
      return { list: [...list, value()], applied: true };
    case "INSERT_FIRST":
      return { list: [value(), ...list], applied: true };
    case "INSERT_AFTER":
      if (!hasMatch) return { list: [...list, value()], applied: true };
      return insertAfter(list, matches, value);
    case "INSERT_BEFORE":
      if (!hasMatch) return { list: [value(), ...list], applied: true };
      return insertBefore(list, matches, value);
    case "REPLACE":
      if (!hasMatch) return { list, applied: false };
      return replaceFirst(list, matches, value);
    case "REMOVE": {
      if (!hasMatch) return { list, applied: false };
      const kept = list.filter((e) => !matches(e));
      return { list: kept, applied: kept.length !== list.length };
    }
    default:
      return { list, applied: false };
  }
}

/** Istio's mergeHTTPFilter / patchNetworkFilter MERGE: typed_config merged as Any, name overridden. */
function mergeFilter(f: Obj, p: CompiledPatch, report: ReportPatch): boolean {
  if (!f.typedConfig) return false;
  const user = p.value ?? {};
  if (!mergeTypedConfig(f, user, p, report, `patch.value.typed_config`)) return false;
  if (user.name) f.name = user.name;
  return true;
}

function patchHttpFilters(ctx: PatchContext, ps: PatchSet, l: Obj, fc: Obj, filter: Obj, used: Used, report: ReportPatch): void {
  const hcm = obj(filter.typedConfig);
  if (!hcm || hcm["@type"] !== HCM_URL) return;
  let filters = arr(hcm.httpFilters);
  const patches = ps.get("HTTP_FILTER") ?? [];
  const applies = (p: CompiledPatch) => contextMatches(ctx, p) && listenerMatch(l, p) && filterChainMatch(l, fc, p) && networkFilterMatch(filter, p);
  for (const p of patches) {
    if (!applies(p)) continue;
    const r = patchList(filters, p, hasHttpFilterMatch(p), (e) => httpFilterMatch(e, p));
    filters = r.list;
    if (r.applied) used(p);
  }
  for (const hf of filters) {
    for (const p of patches) {
      if (p.operation !== "MERGE" || !applies(p) || !httpFilterMatch(hf, p)) continue;
      if (mergeFilter(hf, p, report)) used(p);
    }
  }
  hcm.httpFilters = filters;
}

function patchNetworkFilters(ctx: PatchContext, ps: PatchSet, l: Obj, fc: Obj, used: Used, report: ReportPatch): void {
  const patches = ps.get("NETWORK_FILTER") ?? [];
  const applies = (p: CompiledPatch) => contextMatches(ctx, p) && listenerMatch(l, p) && filterChainMatch(l, fc, p);
  let filters = arr(fc.filters);
  for (const p of patches) {
    if (!applies(p)) continue;
    const r = patchList(filters, p, hasNetworkFilterMatch(p), (e) => networkFilterMatch(e, p));
    filters = r.list;
    if (r.applied) used(p);
  }
  fc.filters = filters;
  for (const f of filters) {
    for (const p of patches) {
      if (p.operation !== "MERGE" || !applies(p) || !networkFilterMatch(f, p)) continue;
      if (mergeFilter(f, p, report)) used(p);
    }
    if (f.name === HTTP_CONNECTION_MANAGER) patchHttpFilters(ctx, ps, l, fc, f, used, report);
  }
}

/** Istio's mergeTransportSocketListener: a patch naming the chain's transport socket merges its typed_config. */
function mergeTransportSocket(fc: Obj, p: CompiledPatch, report: ReportPatch): boolean {
  const ts = obj(p.value?.transportSocket);
  const have = obj(fc.transportSocket);
  if (!ts || !have || ts.name !== have.name) return false;
  mergeTypedConfig(have, ts, p, report, "patch.value.transport_socket.typed_config");
  return true;
}

/** Patches one filter chain; false when a FILTER_CHAIN REMOVE dropped it. */
function patchFilterChain(ctx: PatchContext, ps: PatchSet, l: Obj, fc: Obj, used: Used, report: ReportPatch): boolean {
  for (const p of ps.get("FILTER_CHAIN") ?? []) {
    if (!contextMatches(ctx, p) || !listenerMatch(l, p) || !filterChainMatch(l, fc, p)) continue;
    if (p.operation === "REMOVE") {
      used(p);
      return false;
    }
    if (isMerge(p.operation)) {
      used(p);
      if (!mergeTransportSocket(fc, p, report)) mergeValue(FILTER_CHAIN, fc, p, report);
    }
  }
  patchNetworkFilters(ctx, ps, l, fc, used, report);
  return true;
}

function patchListenerFilters(ctx: PatchContext, ps: PatchSet, l: Obj, used: Used, report: ReportPatch): void {
  let filters = arr(l.listenerFilters);
  for (const p of ps.get("LISTENER_FILTER") ?? []) {
    if (!contextMatches(ctx, p) || !listenerMatch(l, p)) continue;
    if (p.operation === "MERGE") {
      if (!hasListenerFilterMatch(p)) continue;
      for (const f of filters) if (listenerFilterMatch(f, p) && mergeFilter(f, p, report)) used(p);
      continue;
    }
    const r = patchList(filters, p, hasListenerFilterMatch(p), (e) => listenerFilterMatch(e, p));
    filters = r.list;
    if (r.applied) used(p);
  }
  if (filters.length > 0 || l.listenerFilters) l.listenerFilters = filters;
}

/** Patches one listener; false when a LISTENER REMOVE dropped it. */
function patchListener(ctx: PatchContext, ps: PatchSet, l: Obj, used: Used, report: ReportPatch): boolean {
  for (const p of ps.get("LISTENER") ?? []) {
    if (!contextMatches(ctx, p) || !listenerMatch(l, p)) continue;
    if (p.operation === "REMOVE") {
      used(p);
      return false;
    }
    if (isMerge(p.operation)) {
      used(p);
      mergeValue(LISTENER, l, p, report);
    }
  }
  patchListenerFilters(ctx, ps, l, used, report);
  const chains: Obj[] = [];
  for (const fc of arr(l.filterChains)) if (!fc.filters || patchFilterChain(ctx, ps, l, fc, used, report)) chains.push(fc);
  const dfc = obj(l.defaultFilterChain);
  if (dfc?.filters && !patchFilterChain(ctx, ps, l, dfc, used, report)) delete l.defaultFilterChain;
  for (const p of ps.get("FILTER_CHAIN") ?? []) {
    if (p.operation !== "ADD" || !contextMatches(ctx, p) || !listenerMatch(l, p)) continue;
    used(p);
    chains.push(cloneProto(p.value ?? {}));
  }
  if (chains.length > 0 || l.filterChains) l.filterChains = chains;
  return true;
}

/**
 * Istio's ApplyListenerPatches for the listeners generated in one context: patched in place,
 * removed ones dropped, LISTENER ADDs appended (unless `skipAdds`; an ANY-context ADD only in the
 * outbound and gateway passes, so it is added once).
 */
export function patchListeners(ctx: PatchContext, ps: PatchSet, listeners: Obj[], skipAdds: boolean, used: Used, report: ReportPatch): Obj[] {
  const out: Obj[] = [];
  for (const l of listeners) if (!l.name || patchListener(ctx, ps, l, used, report)) out.push(l);
  if (!skipAdds) out.push(...addedValues("LISTENER", ctx, ps, used));
  return out;
}
