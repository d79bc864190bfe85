// Label selectors as the API server parses `kubectl get -l`: a table of selectors and the labels they
// select, an adversarial table of selectors with apimachinery's messages, and kubectl's LABELS cell.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatLabels, LabelSelectorError, matchesLabels, MAX_SELECTOR_LENGTH, parseLabelSelector } from "../../src/api/label-selector.js";

const reviewsV1 = { app: "reviews", version: "v1", "istio.io/rev": "default" };
const reviewsV2 = { app: "reviews", version: "v2" };
const ratings = { app: "ratings", tier: "10" };
const none = {};
const all = { reviewsV1, reviewsV2, ratings, none };

test("selectors select as the API server's", () => {
  const cases: Array<[string, Array<keyof typeof all>]> = [
    ["", ["reviewsV1", "reviewsV2", "ratings", "none"]],
    ["app=reviews", ["reviewsV1", "reviewsV2"]],
    ["app==reviews", ["reviewsV1", "reviewsV2"]],
    ["app!=reviews", ["ratings", "none"]],
    ["app=reviews,version=v2", ["reviewsV2"]],
    [" app = reviews , version = v2 ", ["reviewsV2"]],
    ["app in (reviews,ratings)", ["reviewsV1", "reviewsV2", "ratings"]],
    ["app in (reviews, ratings)", ["reviewsV1", "reviewsV2", "ratings"]],
    ["version notin (v1)", ["reviewsV2", "ratings", "none"]],
    ["version", ["reviewsV1", "reviewsV2"]],
    ["!version", ["ratings", "none"]],
    ["istio.io/rev", ["reviewsV1"]],
    ["istio.io/rev=default,!tier", ["reviewsV1"]],
    ["tier>5", ["ratings"]],
    ["tier<5", []],
    ["app=", []],
    ["app in ()", []],
    ["version notin ()", ["reviewsV1", "reviewsV2", "ratings", "none"]],
    // `in` and `notin` are values where a value stands.
    ["app in (in,notin)", []],
  ];
  for (const [selector, want] of cases) {
    const reqs = parseLabelSelector(selector);
    const got = (Object.keys(all) as Array<keyof typeof all>).filter((k) => matchesLabels(reqs, all[k]));
    assert.deepEqual(got, want, selector);
  }
  assert.deepEqual(parseLabelSelector("b=2,a in (y,x,y)"), [
    { key: "a", operator: "in", values: ["x", "y"] },
    { key: "b", operator: "=", values: ["2"] },
  ]);
  assert.deepEqual(parseLabelSelector("x in (,a,,)")[0].values, ["", "a"]);
});

test("selectors the API server refuses, with apimachinery's messages", () => {
  const KEY = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
  const VALUE =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
  const cases: Array<[string, string]> = [
    ["a=b=c", "found '=', expected: ',' or 'end of string'"],
    ["a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"],
    ["=a", "found '=', expected: !, identifier, or 'end of string'"],
    ["a,", "found '', expected: identifier after ','"],
    ["a,,b", "found ',', expected: identifier after ','"],
    ["!a=b", "found '=', expected: ',' or 'end of string'"],
    ["!", "unable to parse requirement: found '', expected: identifier"],
    ["a in b", "unable to parse requirement: found 'b' expected: '('"],
    ["a in (b", "unable to parse requirement: found '', expected: ',' or ')'"],
    ["a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"],
    ["a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"],
    ["a in (b,=)", "unable to parse requirement: found '=', expected: ',', or identifier"],
    ["a (b)", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"],
    ["a==(b)", "unable to parse requirement: found '(', expected: identifier"],
    ["a>b", 'unable to parse requirement: values[0]: Invalid value: "b": for \'Gt\', \'Lt\' operators, the value must be an integer'],
    ["a=b@", `unable to parse requirement: values[0][a]: Invalid value: "b@": ${VALUE}`],
    ["a=" + "v".repeat(64), `unable to parse requirement: values[0][a]: Invalid value: "${"v".repeat(64)}": must be no more than 63 bytes`],
    ["-a=b", `unable to parse requirement: <nil>: Invalid value: "-a": name part ${KEY}`],
    ["a/b/c", `unable to parse requirement: <nil>: Invalid value: "a/b/c": a valid label key ${KEY} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`],
    ["/a", 'unable to parse requirement: <nil>: Invalid value: "/a": prefix part must be non-empty'],
    ["a>1,b>x,c<y", 'unable to parse requirement: values[0]: Invalid value: "x": for \'Gt\', \'Lt\' operators, the value must be an integer'],
    ["x".repeat(MAX_SELECTOR_LENGTH + 1), `the selector is longer than ${MAX_SELECTOR_LENGTH} characters`],
  ];
  for (const [selector, want] of cases) assert.throws(() => parseLabelSelector(selector), (e: unknown) => e instanceof LabelSelectorError && e.message === want, selector);
  // Several problems in one requirement: apimachinery's aggregate.
  assert.throws(() => parseLabelSelector("a>x@"), { message: /^unable to parse requirement: \[values\[0\]: Invalid value: "x@": for 'Gt'.*, values\[0\]\[a\]: Invalid value: "x@": a valid label .*\]$/ });
});

test("the LABELS cell: key=value in key order, <none> without labels", () => {
  assert.equal(formatLabels({ version: "v1", app: "reviews" }), "app=reviews,version=v1");
  assert.equal(formatLabels({}), "<none>");
  assert.equal(formatLabels(undefined), "<none>");
});
