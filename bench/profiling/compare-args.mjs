/* global process, console */
// The command line the profile comparisons share: REQS_A REQS_B --a FILE... --b FILE... [--top N]
// [--by KEY]. Exits with the usage line when it is off.

export function compareArgs(usage, defaults) {
  const argv = process.argv.slice(2);
  const o = { reqsA: Number(argv[0]), reqsB: Number(argv[1]), filesA: [], filesB: [], top: defaults.top, by: defaults.by };
  let into;
  for (let i = 2; i < argv.length; i++) {
    if (argv[i] === "--a") into = o.filesA;
    else if (argv[i] === "--b") into = o.filesB;
    else if (argv[i] === "--top") o.top = Number(argv[++i]);
    else if (argv[i] === "--by") o.by = argv[++i];
    else into?.push(argv[i]);
  }
  if (!(o.reqsA > 0 && o.reqsB > 0) || o.filesA.length === 0 || o.filesB.length === 0) {
    console.error(`usage: ${usage}`);
    process.exit(2);
  }
  return o;
}
