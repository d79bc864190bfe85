import { parse, plan, celEnv, isCelError } from "@bufbuild/cel";
function t(name, e) { const s = performance.now(); let r; try { parse(e); r = "ok"; } catch (err) { r = err.constructor.name + " " + String(err.message).slice(0, 60); } console.log(name, e.length, (performance.now()-s).toFixed(1)+"ms", r); }
for (const n of [50, 100, 200, 250, 400]) t("parens"+n, "(".repeat(n) + "1" + ")".repeat(n));
for (const n of [10, 15, 18, 20, 22]) t("unclosed"+n, "(".repeat(n) + "a");
for (const n of [10, 15, 18, 20]) t("unclosedlist"+n, "[".repeat(n) + "a");
for (const n of [10, 15, 18, 20]) t("mixed"+n, "a[".repeat(n) + "a");
for (const n of [10, 15, 18, 20]) t("cond"+n, "a?(".repeat(n) + "a");
t("plus", "a" + "+a".repeat(5000));
t("sel", "a" + ".b".repeat(5000));
t("idx", "a" + "[0]".repeat(5000));
t("not", "!".repeat(5000) + "a");
t("str", "'" + "x".repeat(100000) + "'");
t("num", "9".repeat(1000));
