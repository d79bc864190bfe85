// Where in a config folder a resource is defined (FILE:LINE), for `get -o wide`'s SOURCE column and
// for messages that send the user to a file. Read on demand (rare, user-driven), not kept in memory.
import { readFileSync } from "node:fs";
import { lookupKind } from "../api/kinds.js";
import { parseDocuments } from "../api/parse.js";
import { displayPath, listConfigFiles } from "./files.js";

/** The file and 1-based line of the document defining (kind, namespace, name) under `path`, first file first. */
export function findOrigin(path: string, kind: string, namespace: string, name: string): { file: string; line: number } | undefined {
  let files: string[];
  try {
    files = listConfigFiles(path);
  } catch {
    return undefined;
  }
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    if (!text.includes(name)) continue; // most files cannot hold it; skip parsing them
    for (const doc of parseDocuments(text, file)) {
      const v = doc.value as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | undefined;
      if (typeof v?.kind !== "string" || typeof v.apiVersion !== "string" || v.metadata?.name !== name) continue;
      if ((typeof v.metadata.namespace === "string" && v.metadata.namespace ? v.metadata.namespace : "default") !== namespace) continue;
      if ((lookupKind(v.apiVersion, v.kind).info?.kind ?? v.kind) !== kind) continue;
      return { file: displayPath(file), line: doc.line };
    }
  }
  return undefined;
}
