// The `tsmesh.io/command` annotation: how `tsmesh up` starts a workload's app. One command line,
// split the way a POSIX shell splits words (quotes and backslashes; no expansion, pipes or
// globbing), with leading `NAME=value` words as environment variables, as `env` would take them.
// The first word `tsmesh` is this tsmesh and `node` this Node, so examples run from any checkout.

export const COMMAND_ANNOTATION = "tsmesh.io/command";

export interface ParsedCommand {
  /** Variables set by leading NAME=value words. */
  env: Record<string, string>;
  /** Program and arguments (at least one word). */
  argv: string[];
}

export class CommandLineError extends Error {}

/** Shell-style word splitting: '…' is literal, "…" allows \" \\ \$ \`, a backslash outside quotes escapes the next character. */
export function splitWords(line: string): string[] {
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
        word += line[j];
      }
      if (j >= line.length) throw new CommandLineError(`unterminated " at column ${i + 1}`);
      i = j;
    } else if (c === "\\") {
      if (i + 1 >= line.length) throw new CommandLineError("trailing backslash");
      word += line[++i];
    } else {
      word += c;
    }
  }
  if (inWord) words.push(word);
  return words;
}

const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s;

export function parseCommandLine(line: string): ParsedCommand {
  const words = splitWords(line);
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
