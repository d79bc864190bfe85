// exportTo, shared by VirtualService, DestinationRule and ServiceEntry (Istio's validateExportTo).
import { isDNS1123Label } from "./common.js";
import type { ValidationContext } from "./context.js";

/**
 * Istio's validateExportTo: `.`, `*` or namespace names, no duplicates (`.` counts as the own
 * namespace), `*` alone; `~` (nobody) only for ServiceEntry and alone.
 */
export function validateExportTo(
  ctx: ValidationContext,
  path: string,
  exportTo: string[] | undefined,
  namespace: string,
  opts: { serviceEntry?: boolean; drWithSelector?: boolean } = {},
): void {
  if (!exportTo || exportTo.length === 0) return;
  const set = new Set<string>();
  const original = new Map<string, string>();
  exportTo.forEach((e, i) => {
    const p = `${path}[${i}]`;
    const key = e === "." ? namespace : e;
    const prev = original.get(key);
    if (prev !== undefined) {
      ctx.error(
        "TSMESH_INVALID_VALUE",
        p,
        prev !== e ? `duplicate exportTo entry: "." and ${JSON.stringify(namespace)} both name the current namespace` : `duplicate exportTo entry ${JSON.stringify(e)}`,
      );
      return;
    }
    original.set(key, e);
    if (e === "~") {
      if (opts.serviceEntry) set.add(key);
      else ctx.error("TSMESH_INVALID_VALUE", p, `exportTo "~" (nobody) is only allowed on ServiceEntry`);
      return;
    }
    if (e !== "*" && e !== "." && !isDNS1123Label(e)) {
      ctx.error("TSMESH_INVALID_VALUE", p, `exportTo entry ${JSON.stringify(e)} must be ".", "*" or a namespace name`);
      return;
    }
    set.add(key);
  });
  if (opts.drWithSelector && set.size > 0) {
    if (!set.has(namespace)) ctx.error("TSMESH_INVALID_VALUE", path, "a DestinationRule with a workloadSelector cannot be exported beyond its own namespace; use exportTo: [\".\"]");
    else if (set.size > 1) ctx.error("TSMESH_INVALID_VALUE", path, "a DestinationRule with a workloadSelector can only be exported to its own namespace");
  }
  if (set.has("*") && exportTo.length > 1) ctx.error("TSMESH_INVALID_VALUE", path, `"*" (everyone) cannot be combined with other exportTo entries; use ["*"] alone`);
  if (set.has("~") && exportTo.length > 1) ctx.error("TSMESH_INVALID_VALUE", path, `"~" (nobody) cannot be combined with other exportTo entries`);
}
