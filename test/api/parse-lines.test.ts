// Where messages point: the 1-based line and column of the field in error, in every document of a stream
// (after `---` markers, comments and blank lines), at the field's key also when its value is a
// block below it, and at the nearest existing parent for a missing field.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseDocuments } from "../../src/api/parse.js";
import { validateText } from "../../src/api/validate.js";
import { formatDiagnostic } from "../../src/api/format.js";

const STREAM = [
  "# leading comment", //                      1
  "apiVersion: networking.istio.io/v1", //     2
  "kind: VirtualService", //                   3
  "metadata:", //                              4
  "  name: reviews", //                        5
  "spec:", //                                  6
  "  hosts:", //                               7
  "  - reviews", //                            8
  "  http:", //                                9
  "  - route:", //                            10
  "    - destination:", //                    11
  "        host: reviews", //                 12
  "        port:", //                         13
  "          number: 99999", //               14
  "---", //                                   15
  "", //                                      16
  "apiVersion: networking.istio.io/v1", //    17
  "kind: DestinationRule", //                 18
  "metadata: {name: r}", //                   19
  "spec:", //                                 20
  "  trafficPolicy:", //                      21
  "    loadBalancer:", //                     22
  "      simple: BOGUS", //                   23
].join("\n");

describe("line numbers of fields", () => {
  const [vs, dr] = parseDocuments(STREAM, "s.yaml");
  const table: Array<[typeof vs, string, number | undefined]> = [
    [vs, "spec", 6],
    [vs, "spec.hosts", 7],
    [vs, "spec.hosts[0]", 8],
    [vs, "spec.http", 9],
    [vs, "spec.http[0]", 10],
    [vs, "spec.http[0].route", 10],
    [vs, "spec.http[0].route[0].destination", 11],
    [vs, "spec.http[0].route[0].destination.port", 13],
    [vs, "spec.http[0].route[0].destination.port.number", 14],
    [vs, "spec.gateways", 6], // missing: its parent
    [vs, "spec.http[3].route", 9], // missing item: the sequence
    [dr, "spec.trafficPolicy", 21],
    [dr, "spec.trafficPolicy.loadBalancer.simple", 23],
    [dr, "spec.host", 20],
    [dr, "metadata.name", 19],
  ];
  for (const [doc, path, line] of table) it(`${doc.index}: ${path} → ${line}`, () => assert.equal(doc.lineOf(path), line));

  it("columns: where the field's key starts, 1-based", () => {
    assert.equal(vs.columnOf("spec.http[0].route[0].destination.port.number"), 11);
    assert.equal(vs.columnOf("spec.http[0]"), 5); // the item's first content, after "- "
    assert.equal(dr.columnOf("spec.trafficPolicy.loadBalancer.simple"), 7);
    assert.equal(dr.columnOf("metadata.name"), 12);
  });

  it("a syntax error is at the parser's line and column", () => {
    const [bad] = parseDocuments("a: 1\nb: [unclosed\n", "bad.yaml");
    assert.ok(bad.syntaxError);
    const r = validateText("a: 1\nb: [unclosed\n", "bad.yaml")[0];
    assert.match(formatDiagnostic(r, r.diagnostics[0]), new RegExp(`^bad\\.yaml:${bad.line}:${bad.columnOf("")} \\(document 0\\)`));
  });

  it("documents start at their first content line", () => {
    assert.deepEqual([vs.line, dr.line], [2, 17]);
  });

  it("validate names the field's line", () => {
    const lines = validateText(STREAM, "s.yaml").flatMap((r) => r.diagnostics.filter((d) => d.severity === "error").map((d) => formatDiagnostic(r, d)));
    assert.ok(lines.some((l) => l.startsWith("s.yaml:14:11 (document 0) VirtualService default/reviews: spec.http[0].route[0].destination.port.number:")), lines.join("\n"));
    assert.ok(lines.some((l) => l.startsWith("s.yaml:23:7 (document 1) DestinationRule default/r: spec.trafficPolicy.loadBalancer.simple:")), lines.join("\n"));
    assert.ok(lines.some((l) => l.startsWith("s.yaml:20:1 (document 1) DestinationRule default/r: spec.host: Required value")), lines.join("\n"));
  });
});
