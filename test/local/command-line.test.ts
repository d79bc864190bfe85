import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { APP_VARIABLES, appVariables, CommandLineError, parseCommandLine, resolveProgram, shellCommand, splitWords, wantsShell, workloadVariables } from "../../src/local/command-line.js";

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

describe("tsmesh.io/command: variables", () => {
  const vars: Record<string, string> = { HOST: "127.128.1.1", PORT: "9080", EMPTY: "" };
  const lookup = (n: string) => vars[n];
  const table: Array<[string, string[]]> = [
    ["serve --bind $HOST --port $PORT", ["serve", "--bind", "127.128.1.1", "--port", "9080"]],
    ["serve ${HOST}:${PORT}", ["serve", "127.128.1.1:9080"]],
    ['serve "$HOST:$PORT"', ["serve", "127.128.1.1:9080"]],
    [`serve '$HOST' \\$PORT "\\$PORT"`, ["serve", "$HOST", "$PORT", "$PORT"]],
    ["serve $PORTx", []], // unknown: $PORTx (a name runs to the last name character)
    ["serve $ 5$ $1 a$-b", ["serve", "$", "5$", "$1", "a$-b"]],
    ["serve x$EMPTY", ["serve", "x"]],
    ["serve $EMPTY", ["serve", ""]],
  ];
  for (const [line, words] of table) {
    it(JSON.stringify(line), () => {
      if (words.length === 0) assert.throws(() => splitWords(line, lookup), /unknown variable \$PORTx at column 7/);
      else assert.deepEqual(splitWords(line, lookup), words);
    });
  }
  for (const [bad, message] of [
    ["serve ${HOST", /unterminated "\$\{" at column 7/],
    ["serve ${HOST:-x}", /bad substitution "\$\{HOST:-x\}" at column 7: only \$\{NAME\} is supported/],
    ["serve $NOPE", /unknown variable \$NOPE at column 7; up provides \$HOST \$PORT \$PORTS \$NAME \$NAMESPACE .* and the environment it runs in/],
  ] as const) {
    it(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => splitWords(bad, lookup), message));
  }
  it("without a lookup nothing is expanded (tsmesh exec, word splitting only)", () => assert.deepEqual(splitWords("a $HOST"), ["a", "$HOST"]));
  it("assignments are expanded too, and what they set is not visible to the same line (as a shell)", () => {
    assert.deepEqual(parseCommandLine("ADDR=$HOST:$PORT serve", lookup), { env: { ADDR: "127.128.1.1:9080" }, argv: ["serve"] });
    assert.throws(() => parseCommandLine("X=1 serve $X", lookup), /unknown variable \$X/);
  });
  it("appVariables gives every documented variable", () => {
    const v = appVariables({ name: "web", namespace: "shop", address: "127.0.3.1", appAddress: "127.128.3.1", ports: [80, 81], proxyUrl: "http://127.0.3.1:15001" });
    for (const [name] of APP_VARIABLES) assert.ok(name in v, name);
    assert.deepEqual([v.HOST, v.PORT, v.PORTS, v.NAME, v.NAMESPACE, v.INSTANCE_IP, v.SERVICE_ACCOUNT], ["127.128.3.1", "80", "80,81", "web", "shop", "127.0.3.1", "default"]);
  });
  it("workloadVariables: the app's variables but HOST, PORT, PORTS and SERVICE_ACCOUNT, with the same values", () => {
    const facts = { name: "web", namespace: "shop", address: "127.0.3.1", appAddress: "127.128.3.1", ports: [80], serviceAccount: "sa", proxyUrl: "http://127.0.3.1:15001" };
    const app = appVariables(facts);
    const w = workloadVariables(facts);
    const appOnly = ["HOST", "PORT", "PORTS", "SERVICE_ACCOUNT"];
    assert.deepEqual(Object.keys(w).sort(), Object.keys(app).filter((k) => !appOnly.includes(k)).sort());
    for (const [k, v] of Object.entries(w)) assert.equal(app[k], v, k);
    assert.deepEqual([w.HTTP_PROXY, w.https_proxy, w.INSTANCE_IP, w.POD_NAMESPACE], ["http://127.0.3.1:15001", "http://127.0.3.1:15001", "127.0.3.1", "shop"]);
  });
  it("the shell runs the line as written", () => {
    assert.deepEqual(shellCommand("a | b"), { env: {}, argv: ["/bin/sh", "-c", "a | b"] });
    assert.throws(() => shellCommand("  "), /no program/);
    assert.equal(wantsShell(undefined), false);
    assert.equal(wantsShell("false"), false);
    assert.equal(wantsShell("true"), true);
    assert.throws(() => wantsShell("True"), /must be "true" or "false", not "True"/);
  });
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
