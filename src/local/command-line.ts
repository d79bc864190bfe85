// The `tsmesh.io/command` annotation: how `tsmesh up` starts a workload's app. One command line,
// split the way a POSIX shell splits words (quotes and backslashes; no pipes or globbing), with
// `$NAME` / `${NAME}` expanded from the variables `up` gives the app (APP_VARIABLES) and its own
// environment (outside single quotes, as a shell does; an unknown name is an error), and leading
// `NAME=value` words as environment variables, as `env` would take them. With `tsmesh.io/shell:
// "true"` the line runs through `/bin/sh -c` instead (pipes, `&&`, the shell's own expansion).
// The first word `tsmesh` is this tsmesh and `node` this Node, so examples run from any checkout.

export const COMMAND_ANNOTATION = "tsmesh.io/command";
export const SHELL_ANNOTATION = "tsmesh.io/shell";

/** A workload's identity and sidecar: what `tsmesh exec` knows of it. */
export interface WorkloadFacts {
  name: string;
  namespace: string;
  /** The workload address (the sidecar's). */
  address: string;
  /** The sidecar's outbound URL (HTTP_PROXY). */
  proxyUrl: string;
}

/** What `up` knows about a workload when it starts its app. */
export interface AppFacts extends WorkloadFacts {
  /** Where the app listens. */
  appAddress: string;
  /** Its service ports, in order. */
  ports: readonly number[];
  serviceAccount?: string;
}

/** The variables `up` sets for every app (and expands in its command), with what each means. */
export const APP_VARIABLES: ReadonlyArray<readonly [string, string]> = [
  ["HOST", "the address the app listens on (its private address; the sidecar forwards to it)"],
  ["PORT", "the first service port"],
  ["PORTS", "every service port, comma-separated"],
  ["NAME", "the WorkloadEntry's name"],
  ["NAMESPACE", "the WorkloadEntry's namespace"],
  ["INSTANCE_IP", "the workload address (the sidecar's)"],
  ["POD_NAME", "as Kubernetes' downward API: the WorkloadEntry's name"],
  ["POD_NAMESPACE", "as Kubernetes' downward API: its namespace"],
  ["SERVICE_ACCOUNT", "spec.serviceAccount (default: default)"],
  ["HTTP_PROXY", "the sidecar's outbound listener (also http_proxy, HTTPS_PROXY, https_proxy)"],
  ["NO_PROXY", "localhost,127.0.0.1,::1 (also no_proxy)"],
];

/** The APP_VARIABLES about the workload itself and its sidecar (not the app's HOST, PORT, PORTS, SERVICE_ACCOUNT): what `tsmesh exec` sets. */
export function workloadVariables(f: WorkloadFacts): Record<string, string> {
  const noProxy = "localhost,127.0.0.1,::1";
  return {
    NAME: f.name,
    NAMESPACE: f.namespace,
    INSTANCE_IP: f.address,
    POD_NAME: f.name,
    POD_NAMESPACE: f.namespace,
    HTTP_PROXY: f.proxyUrl,
    http_proxy: f.proxyUrl,
    HTTPS_PROXY: f.proxyUrl,
    https_proxy: f.proxyUrl,
    NO_PROXY: noProxy,
    no_proxy: noProxy,
  };
}

/** The environment `up` adds to an app's: every APP_VARIABLES name with its value. */
export function appVariables(f: AppFacts): Record<string, string> {
  return {
    HOST: f.appAddress,
    PORT: f.ports.length > 0 ? String(f.ports[0]) : "",
    PORTS: f.ports.join(","),
    SERVICE_ACCOUNT: f.serviceAccount ?? "default",
    ...workloadVariables(f),
  };
}

/** Looks a variable up for expansion; undefined: unknown. */
export type VariableLookup = (name: string) => string | undefined;

export interface ParsedCommand {
  /** Variables set by leading NAME=value words. */
  env: Record<string, string>;
  /** Program and arguments (at least one word). */
  argv: string[];
}

export class CommandLineError extends Error {}

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

/**
 * `$NAME` or `${NAME}` at line[i] (line[i] is `$`): its value and where the reference ends. A `$`
 * not followed by a name is literal, as in a shell.
 */
function expandAt(line: string, i: number, lookup: VariableLookup): { value: string; end: number } {
  let name: string;
  let end: number;
  if (line[i + 1] === "{") {
    const close = line.indexOf("}", i + 2);
    if (close < 0) throw new CommandLineError(`unterminated "\${" at column ${i + 1}`);
    name = line.slice(i + 2, close);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new CommandLineError(`bad substitution "\${${name}}" at column ${i + 1}: only \${NAME} is supported (no defaults or operators; use ${SHELL_ANNOTATION}: "true" for a shell)`);
    end = close;
  } else {
    if (i + 1 >= line.length || !NAME_START.test(line[i + 1])) return { value: "$", end: i };
    let j = i + 1;
    while (j < line.length && NAME_CHAR.test(line[j])) j++;
    name = line.slice(i + 1, j);
    end = j - 1;
  }
  const value = lookup(name);
  if (value === undefined) throw new CommandLineError(`unknown variable $${name} at column ${i + 1}; up provides ${APP_VARIABLES.map(([n]) => "$" + n).join(" ")} and the environment it runs in`);
  return { value, end };
}

/**
 * Shell-style word splitting: '…' is literal, "…" allows \" \\ \$ \`, a backslash outside quotes
 * escapes the next character. With `lookup`, `$NAME` and `${NAME}` outside single quotes are
 * replaced by their values (within the word: no further splitting, as inside double quotes).
 */
export function splitWords(line: string, lookup?: VariableLookup): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      continue;
    }
    inWord = true;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new CommandLineError(`unterminated ' at column ${i + 1}`);
      word += line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === "\\" && j + 1 < line.length && '"\\$`'.includes(line[j + 1])) j++;
        else if (line[j] === "$" && lookup) {
          const r = expandAt(line, j, lookup);
          word += r.value;
          j = r.end;
          continue;
        }
        word += line[j];
      }
      if (j >= line.length) throw new CommandLineError(`unterminated " at column ${i + 1}`);
      i = j;
    } else if (c === "\\") {
      if (i + 1 >= line.length) throw new CommandLineError("trailing backslash");
      word += line[++i];
    } else if (c === "$" && lookup) {
      const r = expandAt(line, i, lookup);
      word += r.value;
      i = r.end;
    } else {
      word += c;
    }
  }
  if (inWord) words.push(word);
  return words;
}

const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s;

export function parseCommandLine(line: string, lookup?: VariableLookup): ParsedCommand {
  const words = splitWords(line, lookup);
  const env: Record<string, string> = {};
  let i = 0;
  for (; i < words.length; i++) {
    const m = ASSIGNMENT.exec(words[i]);
    if (!m) break;
    env[m[1]] = m[2];
  }
  const argv = words.slice(i);
  if (argv.length === 0) throw new CommandLineError("no program to run (only variable assignments)");
  return { env, argv };
}

/** The annotation's line run by `/bin/sh -c` (tsmesh.io/shell: "true"): the shell expands and splits it. */
export function shellCommand(line: string): ParsedCommand {
  if (line.trim() === "") throw new CommandLineError("no program to run (the command is empty)");
  return { env: {}, argv: ["/bin/sh", "-c", line] };
}

/** tsmesh.io/shell's value: "true" or "false" (as Kubernetes' boolean annotations); anything else is an error. */
export function wantsShell(value: string | undefined): boolean {
  if (value === undefined || value === "false") return false;
  if (value === "true") return true;
  throw new CommandLineError(`${SHELL_ANNOTATION} must be "true" or "false", not ${JSON.stringify(value)}`);
}

/**
 * The program and arguments to spawn: `tsmesh …` runs this tsmesh's bin with this Node, `node …`
 * this Node; anything else is looked up on PATH by spawn.
 */
export function resolveProgram(argv: readonly string[], tsmeshBin: string): { file: string; args: string[] } {
  const [first, ...rest] = argv;
  if (first === "tsmesh") return { file: process.execPath, args: [tsmeshBin, ...rest] };
  if (first === "node") return { file: process.execPath, args: rest };
  return { file: first, args: rest };
}
