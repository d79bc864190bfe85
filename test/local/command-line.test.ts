import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CommandLineError, parseCommandLine, resolveProgram, splitWords } from "../../src/local/command-line.js";

describe("tsmesh.io/command: word splitting", () => {
  const table: Array<[string, string[]]> = [
    ["tsmesh app reviews", ["tsmesh", "app", "reviews"]],
    ["  spaced\tout \n words ", ["spaced", "out", "words"]],
    ["echo 'single quoted  text'", ["echo", "single quoted  text"]],
    ['echo "double \\"quoted\\" $HOME"', ["echo", 'double "quoted" $HOME']],
    ['echo "keeps \\n as is"', ["echo", "keeps \\n as is"]],
    ["echo a\\ b", ["echo", "a b"]],
    ["echo ''", ["echo", ""]],
    ["x=\"a b\"c", ["x=a bc"]],
    ["", []],
  ];
  for (const [line, words] of table) it(JSON.stringify(line), () => assert.deepEqual(splitWords(line), words));

  for (const bad of ["echo 'open", 'echo "open', "echo \\"]) {
    it(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => splitWords(bad), CommandLineError));
  }
});

describe("tsmesh.io/command: environment and program", () => {
  it("takes leading NAME=value words as environment", () => {
    assert.deepEqual(parseCommandLine("SERVICE_VERSION=v2 STAR_COLOR=black tsmesh app reviews"), {
      env: { SERVICE_VERSION: "v2", STAR_COLOR: "black" },
      argv: ["tsmesh", "app", "reviews"],
    });
  });
  it("stops at the first word that is not an assignment", () => {
    assert.deepEqual(parseCommandLine("A=1 prog B=2"), { env: { A: "1" }, argv: ["prog", "B=2"] });
  });
  it("allows empty and spaced values", () => {
    assert.deepEqual(parseCommandLine("EMPTY= MSG='hello world' prog").env, { EMPTY: "", MSG: "hello world" });
  });
  it("needs a program", () => assert.throws(() => parseCommandLine("A=1 B=2"), /no program/));
  it("runs tsmesh and node with this Node", () => {
    assert.deepEqual(resolveProgram(["tsmesh", "app", "ratings"], "/x/bin.js"), { file: process.execPath, args: ["/x/bin.js", "app", "ratings"] });
    assert.deepEqual(resolveProgram(["node", "app.js"], "/x/bin.js"), { file: process.execPath, args: ["app.js"] });
    assert.deepEqual(resolveProgram(["python3", "-m", "http.server"], "/x/bin.js"), { file: "python3", args: ["-m", "http.server"] });
  });
});
