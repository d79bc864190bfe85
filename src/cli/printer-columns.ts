// `tsmesh get`'s columns from each CRD's additionalPrinterColumns, as the Kubernetes API server's
// CRD table convertor fills them and kubectl prints them: the first value a column's JSONPath
// selects; a `string` column prints a list or map as compact JSON (`["bookinfo-gateway","mesh"]`)
// and a scalar as text; a `date` column as an age; nothing selected, or a value of the wrong type,
// an empty cell. A CRD without columns gets the API server's default, AGE.
import { goJson, goNumber } from "../api/go-value.js";
import { JsonPathError, parseJsonPath, type JsonPath } from "../api/jsonpath.js";
import { evaluateJsonPath, JsonPathEvalError } from "../api/jsonpath-eval.js";
import { CONFIGMAP_INFO, resourceType } from "../api/kind-names.js";
import type { KindInfo, PrinterColumn } from "../api/kinds.js";
import { SERVICE_INFO, type KubeServiceSpec } from "../api/kube-service.js";
import { humanDuration } from "./output.js";

/** A column whose JSONPath does not parse: it names the CRD and the column. */
export class PrinterColumnError extends Error {}

export interface TableColumn {
  /** kubectl's header: the column's name in upper case. */
  header: string;
  /** Above 0: only with -o wide. */
  priority: number;
  cell(object: unknown, now: Date): string;
}

/** The API server's column for a CRD that declares none. */
const DEFAULT_COLUMNS: PrinterColumn[] = [{ name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" }];

const compiled = new WeakMap<KindInfo, TableColumn[]>();

/** kubectl's built-in table for a ConfigMap (no CRD): DATA, the number of keys, then AGE. */
function configMapColumns(): TableColumn[] {
  const age = tableColumn(DEFAULT_COLUMNS[0], CONFIGMAP_INFO);
  const data: TableColumn = {
    header: "DATA",
    priority: 0,
    cell: (object) => {
      const o = object as { data?: Record<string, unknown>; binaryData?: Record<string, unknown> };
      return String(Object.keys(o.data ?? {}).length + Object.keys(o.binaryData ?? {}).length);
    },
  };
  return [data, age];
}

/** kubectl's built-in table for a Service: TYPE, CLUSTER-IP, EXTERNAL-IP, PORT(S), AGE, and SELECTOR with -o wide. */
function serviceColumns(): TableColumn[] {
  type Svc = { spec?: KubeServiceSpec; status?: { loadBalancer?: { ingress?: Array<{ ip?: string; hostname?: string }> } } };
  const column = (header: string, cell: (o: Svc) => string, priority = 0): TableColumn => ({ header, priority, cell: (o) => cell(o as Svc) });
  const external = (o: Svc): string => {
    const spec = o.spec ?? {};
    const ips = spec.externalIPs ?? [];
    if (spec.type === "ExternalName") return spec.externalName ?? "<none>";
    if (spec.type === "LoadBalancer") {
      const lb = (o.status?.loadBalancer?.ingress ?? []).map((i) => i.ip || i.hostname || "").filter(Boolean);
      return [...lb, ...ips].join(",") || "<pending>";
    }
    return ips.join(",") || "<none>";
  };
  const ports = (o: Svc) => (o.spec?.ports ?? []).map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ""}/${p.protocol ?? "TCP"}`).join(",") || "<none>";
  const selector = (o: Svc) =>
    Object.keys(o.spec?.selector ?? {})
      .sort()
      .map((k) => `${k}=${o.spec!.selector![k]}`)
      .join(",") || "<none>";
  return [
    column("TYPE", (o) => o.spec?.type ?? "ClusterIP"),
    column("CLUSTER-IP", (o) => o.spec?.clusterIP || "<none>"),
    column("EXTERNAL-IP", external),
    column("PORT(S)", ports),
    tableColumn(DEFAULT_COLUMNS[0], SERVICE_INFO),
    column("SELECTOR", selector, 1),
  ];
}

/** The kind's printer columns, compiled once. Throws PrinterColumnError for a path that does not parse. */
export function printerColumns(info: KindInfo): TableColumn[] {
  let cols = compiled.get(info);
  if (!cols) {
    const defs = info.printerColumns?.length ? info.printerColumns : DEFAULT_COLUMNS;
    cols = info === CONFIGMAP_INFO ? configMapColumns() : info === SERVICE_INFO ? serviceColumns() : defs.map((c) => tableColumn(c, info));
    compiled.set(info, cols);
  }
  return cols;
}

function tableColumn(c: PrinterColumn, info: KindInfo): TableColumn {
  let path: JsonPath;
  try {
    path = parseJsonPath(c.jsonPath);
  } catch (e) {
    if (!(e instanceof JsonPathError)) throw e;
    throw new PrinterColumnError(`the CRD ${resourceType(info)}: column ${JSON.stringify(c.name)} (jsonPath ${c.jsonPath}): ${e.message}`);
  }
  return {
    header: c.name.toUpperCase(),
    priority: c.priority ?? 0,
    cell: (object, now) => {
      let values: unknown[];
      try {
        values = evaluateJsonPath(path, object);
      } catch (e) {
        if (e instanceof JsonPathEvalError) return "";
        throw e;
      }
      return values.length === 0 ? "" : printable(cellValue(c.type, values[0], now));
    },
  };
}

/** One value as the CRD table convertor makes its cell (undefined: an empty cell). */
export function cellValue(type: string, v: unknown, now: Date): string | undefined {
  if (v === null || v === undefined) return undefined;
  switch (type) {
    case "string":
      return typeof v === "object" ? goJson(v) : typeof v === "number" ? goNumber(v) : String(v);
    case "integer":
      return typeof v === "number" ? String(Math.trunc(v)) : undefined;
    case "number":
      return typeof v === "number" ? goNumber(v) : undefined;
    case "boolean":
      return typeof v === "boolean" ? String(v) : undefined;
    case "date": {
      if (typeof v !== "string") return undefined;
      const t = Date.parse(v);
      // RFC 3339 only, as metav1.Time parses it.
      if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v) || Number.isNaN(t)) return "<invalid>";
      if (v.startsWith("0001-01-01T00:00:00")) return "<unknown>";
      return humanDuration(now.getTime() - t);
    }
    default:
      return undefined;
  }
}

/**
 * A cell as kubectl writes it: cut at the first line break (then "..."), the terminal's escape
 * character shown as ^[ so a resource cannot drive the user's terminal.
 */
export function printable(s: string | undefined): string {
  if (s === undefined) return "";
  const cut = s.search(/[\f\n\r]/);
  const line = cut >= 0 ? `${s.slice(0, cut)}...` : s;
  return line.replaceAll("\u001b", "^[");
}
