// `tsmesh get KIND[,KIND...] [NAME...] | KIND/NAME... [-n NS | -A] [-l SELECTOR] [-o FORMAT]`: kubectl
// get against the running mesh's API, in kubectl's shapes: a table per kind with the CRD's printer
// columns (printer-columns.ts; NAMESPACE first with -A for namespaced kinds; -o wide adds the priority
// columns, SOURCE, `applied` or FILE:LINE, and the copies an applied one SHADOWS; -L and --show-labels
// add label columns), names as `kind.group/name` when several kinds are listed, a blank line between
// tables; the objects as YAML or JSON (a v1 List unless one object was named), through a JSONPath
// template or custom columns (get-output.ts) over that same object; or `kind.group/name` lines.
// Categories (`istio-io`, `gateway-api`) expand as kubectl expands them. -l is sent to the mesh API,
// which selects as the API server does.
import { stringify } from "yaml";
import { CATEGORY_ALL, expandResourceArg, kubectlRef, qualifiedSingular, resolveResourceName, resourceType } from "../api/kind-names.js";
import { compareKubeVersions, type KindInfo } from "../api/kinds.js";
import { formatLabels } from "../api/label-selector.js";
import type { ResourceView } from "../controlplane/api-server.js";
import { findMeshSocket, isFailure, MeshApiClient, type MeshTarget } from "./api-client.js";
import { OutputFormatError, parseOutputFormat, printCustomColumns, printedObject, printJsonPath, type OutputFormat } from "./get-output.js";
import { formatTable } from "./output.js";
import { printable, printerColumns } from "./printer-columns.js";

/** -o: table (none), wide, yaml, json, name, jsonpath=…, jsonpath-file=…, jsonpath-as-json=…, custom-columns=…, custom-columns-file=…. */
export type GetOutput = string;

export interface GetCliOptions {
  /** The first argument: KIND, KIND,KIND…, a category, or KIND/NAME. */
  kind: string;
  /** The other arguments: names, or more KIND/NAME. */
  names: string[];
  /** -n (default "default"); ignored with allNamespaces. */
  namespace?: string;
  allNamespaces: boolean;
  output: GetOutput;
  /** --show-managed-fields: keep metadata.managedFields in -o yaml|json (kubectl hides them). */
  showManagedFields?: boolean;
  /** -l: a label selector, sent to the mesh API. */
  selector?: string;
  /** --show-labels: a LABELS column last. */
  showLabels?: boolean;
  /** -L: a column per label key. */
  labelColumns?: string[];
  /** --no-headers. */
  noHeaders?: boolean;
  /** --allow-missing-template-keys (kubectl's default: true). */
  allowMissingTemplateKeys?: boolean;
  /** Writes output exactly (a jsonpath's text has no newline of its own); without it, lines go to `out`. */
  write?: (text: string) => void;
  target: MeshTarget;
  /** The time AGE counts to (tests). */
  now?: Date;
}

/** What to fetch: a kind's list, or one object of it. */
export interface GetRequest {
  info: KindInfo;
  name?: string;
}

/** An argument kubectl would refuse, with kubectl's words. */
export class GetArgsError extends Error {}

/**
 * kubectl's argument forms: `KIND[,KIND…] [NAME…]` (a category expands to its kinds; names need
 * exactly one kind) or `KIND/NAME…` (every argument in that form). `singleItem`: one object was
 * named, so -o yaml|json prints it rather than a List; `askedAll`: the category `all` was named.
 */
export function getRequests(args: readonly string[], allNamespaces: boolean, selector = false): { requests: GetRequest[]; singleItem: boolean; askedAll: boolean } {
  const slashed = args.filter((a) => a.includes("/")).length;
  if (slashed > 0) {
    if (selector && slashed === args.length) throw new GetArgsError("selectors and the all flag cannot be used when passing resource/name arguments");
    if (slashed !== args.length)
      throw new GetArgsError("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'tsmesh get resource/<resource_name>' instead of 'tsmesh get resource resource/<resource_name>'");
    const requests = args.map((a) => {
      const parts = a.split("/");
      if (parts.length !== 2) throw new GetArgsError("arguments in resource/name form may not have more than one slash");
      const [type, name] = parts;
      if (!type || !name || type.includes(",")) throw new GetArgsError("arguments in resource/name form must have a single resource and name");
      return { info: resolveResourceName(type), name };
    });
    if (allNamespaces) throw new GetArgsError("a resource cannot be retrieved by name across all namespaces");
    return { requests, singleItem: requests.length === 1, askedAll: false };
  }
  const [types, ...names] = args;
  const words = [...new Set(types.split(","))];
  const kinds = [...new Map(words.flatMap((w) => expandResourceArg(w)).map((k) => [k.kind, k])).values()];
  const askedAll = words.some((w) => w.toLowerCase() === CATEGORY_ALL);
  if (names.length === 0) return { requests: kinds.map((info) => ({ info })), singleItem: false, askedAll };
  if (selector) throw new GetArgsError("name cannot be provided when a selector is specified");
  if (kinds.length !== 1) throw new GetArgsError("you must specify only one resource");
  if (allNamespaces) throw new GetArgsError("a resource cannot be retrieved by name across all namespaces");
  return { requests: names.map((name) => ({ info: kinds[0], name })), singleItem: names.length === 1, askedAll };
}

/** One response kubectl prints as a unit: a kind's list, or one named object. */
export interface Fetched {
  info: KindInfo;
  views: ResourceView[];
}

/** kubectl's name for a kind's resource in list errors: `networking.istio.io/v1, Resource=virtualservices`. */
function groupVersionResource(info: KindInfo): string {
  return `${info.group}/${[...info.versions].sort(compareKubeVersions)[0]}, Resource=${info.plural}`;
}

export async function runGet(o: GetCliOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  // kubectl trims the selector; an empty one selects everything.
  const selector = o.selector?.trim() ?? "";
  let parsed: ReturnType<typeof getRequests>;
  let format: OutputFormat;
  try {
    format = parseOutputFormat(o.output, o.noHeaders);
    const human = format.t === "table" || format.t === "wide";
    if (o.showLabels && !human) throw new GetArgsError(`--show-labels option cannot be used with ${o.output} printer`);
    if (o.labelColumns?.length && format.t === "custom-columns") throw new GetArgsError(`--label-columns option cannot be used with ${o.output} printer`);
    parsed = getRequests([o.kind, ...o.names], o.allNamespaces, selector !== "");
  } catch (e) {
    if (!(e instanceof GetArgsError) && !(e instanceof OutputFormatError)) throw e;
    err(`error: ${e.message}`);
    return 1;
  }
  const client = new MeshApiClient(findMeshSocket(o.target));
  const namespace = o.allNamespaces ? undefined : (o.namespace ?? "default");
  const fetched: Fetched[] = [];
  let failed = false;
  for (const { info, name } of parsed.requests) {
    // A cluster-scoped kind (GatewayClass) is listed and named without a namespace.
    const ns = info.namespaced ? namespace : undefined;
    if (name === undefined || !info.namespaced) {
      const q = new URLSearchParams({ kind: info.kind, ...(ns ? { namespace: ns } : {}), ...(name !== undefined ? { name } : {}), ...(selector ? { labelSelector: selector } : {}), ...(o.showManagedFields ? { showManagedFields: "true" } : {}) });
      const r = await client.get<{ items: ResourceView[] }>(`resources?${q}`);
      if (isFailure(r.body)) {
        // kubectl's EnhanceListError: what was listed, and with which selector.
        const listed = JSON.stringify(groupVersionResource(info));
        const enhanced = r.body.reason === "BadRequest" || r.body.reason === "NotFound";
        const what = !enhanced ? "" : selector ? `Unable to find ${listed} that match label selector ${JSON.stringify(selector)}, field selector "": ` : `Unable to list ${listed}: `;
        err(`Error from server (${r.body.reason}): ${what}${r.body.message}`);
        failed = true;
        continue;
      }
      if (name !== undefined && r.body.items.length === 0) {
        err(`Error from server (NotFound): ${resourceType(info)} ${JSON.stringify(name)} not found`);
        failed = true;
      } else if (name !== undefined) fetched.push({ info, views: r.body.items.slice(0, 1) });
      else fetched.push({ info, views: r.body.items });
      continue;
    }
    const r = await client.get<ResourceView>(`resources/${encodeURIComponent(info.kind)}/${encodeURIComponent(ns ?? "default")}/${encodeURIComponent(name)}${o.showManagedFields ? "?showManagedFields=true" : ""}`);
    if (isFailure(r.body)) {
      err(`Error from server (${r.body.reason}): ${r.body.message}`);
      failed = true;
    } else fetched.push({ info, views: [r.body] });
  }
  const views = fetched.flatMap((f) => f.views);
  // Exact text (kubectl adds no newline after a template's output); lines when only `out` is given.
  const write =
    o.write ??
    ((text: string) => {
      if (text !== "") out(text.endsWith("\n") ? text.slice(0, -1) : text);
    });
  // One named object that was not found: kubectl prints its error and nothing else.
  const nothingNamed = parsed.singleItem && views.length === 0;
  switch (format.t) {
    case "yaml":
    case "json":
      if (!nothingNamed) out(render(views, format.t, parsed.singleItem));
      break;
    case "name":
      for (const f of fetched) for (const v of f.views) out(kubectlRef({ kind: f.info.kind, metadata: v.object.metadata }));
      break;
    case "jsonpath": {
      if (nothingNamed) break;
      const printed = printJsonPath(format, printedObject(views.map((v) => v.object), parsed.singleItem), o.allowMissingTemplateKeys ?? true);
      if ("error" in printed) {
        err(`error: ${printed.error}`);
        return 1;
      }
      write(printed.text);
      break;
    }
    case "custom-columns": {
      if (nothingNamed) break;
      const printed = printCustomColumns(format, views.map((v) => v.object));
      for (const line of printed.lines) out(line);
      if (printed.error !== undefined) {
        err(`error: ${printed.error}`);
        return 1;
      }
      break;
    }
    default: {
      const lines = tables(fetched, { ...o, output: format.t }, o.now ?? new Date());
      for (const line of lines) out(line);
      if (lines.length === 0 && !failed) {
        const namespaced = !o.allNamespaces && parsed.requests.every((r) => r.info.namespaced);
        err(namespaced ? `No resources found in ${namespace} namespace.` : "No resources found");
        // On Kubernetes too, `all` is the workload kinds' category; Istio's CRDs are not in it.
        if (parsed.askedAll) err(`(Istio's and the Gateway API's kinds are not in kubectl's category "all", on Kubernetes either; list them with: tsmesh get istio-io,gateway-api)`);
      }
    }
  }
  return failed ? 1 : 0;
}

/**
 * kubectl's human-readable printing: consecutive responses of one kind share a table; a new kind
 * starts a new one, after a blank line when something was printed; names carry `kind.group/` when
 * the responses are of more than one kind; a kind with nothing to show prints nothing.
 */
export function tables(fetched: readonly Fetched[], o: Pick<GetCliOptions, "allNamespaces" | "output" | "showLabels" | "labelColumns" | "noHeaders">, now: Date): string[] {
  const withKind = new Set(fetched.map((f) => f.info.kind)).size > 1;
  const wide = o.output === "wide";
  const lines: string[] = [];
  for (let i = 0; i < fetched.length; ) {
    const info = fetched[i].info;
    const views: ResourceView[] = [];
    for (; i < fetched.length && fetched[i].info === info; i++) views.push(...fetched[i].views);
    if (views.length === 0) continue;
    const cols = printerColumns(info).filter((c) => wide || c.priority === 0);
    const withNamespace = o.allNamespaces && info.namespaced;
    const prefix = withKind ? `${qualifiedSingular(info)}/` : "";
    // -L: a column per key, headed by the key's last path segment; LABELS is always last.
    const labelKeys = o.labelColumns ?? [];
    const head = [
      ...(withNamespace ? ["NAMESPACE"] : []),
      "NAME",
      ...cols.map((c) => c.header),
      ...(wide ? ["SOURCE", "SHADOWS"] : []),
      ...labelKeys.map((k) => k.split("/").at(-1)!.toUpperCase()),
      ...(o.showLabels ? ["LABELS"] : []),
    ];
    const rows = views.map((v) => [
      ...(withNamespace ? [v.object.metadata.namespace ?? ""] : []),
      printable(prefix + v.object.metadata.name),
      ...cols.map((c) => c.cell(v.object, now)),
      ...(wide ? [v.source, v.shadowed.length > 0 ? v.shadowed.join(",") : "<none>"] : []),
      ...labelKeys.map((k) => printable(v.object.metadata.labels?.[k] ?? "")),
      ...(o.showLabels ? [printable(formatLabels(v.object.metadata.labels))] : []),
    ]);
    // A blank line between kinds, unless there are no headers (kubectl's separator).
    if (lines.length > 0 && !o.noHeaders) lines.push("");
    // kubectl's tabwriter: three spaces after the widest cell, cells at least six wide.
    const all = o.noHeaders ? rows : [head, ...rows];
    lines.push(...formatTable(all[0], all.slice(1), { gap: 3, minWidth: 6 }).split("\n"));
  }
  return lines;
}

/** One object as itself; several (or a listing) as kubectl's v1 List. */
function render(views: readonly ResourceView[], format: "yaml" | "json", single: boolean): string {
  const doc = single && views.length === 1 ? views[0].object : { apiVersion: "v1", items: views.map((v) => v.object), kind: "List", metadata: { resourceVersion: "" } };
  // kubectl prints list items at their key's indentation.
  return format === "json" ? JSON.stringify(doc, null, 4) : stringify(doc, { indentSeq: false }).trimEnd();
}
