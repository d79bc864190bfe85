#!/usr/bin/env node
// Entry point of the `tsmesh` bin.
import { main } from "./main.js";

const result = main(process.argv.slice(2));
if (typeof result === "number") process.exitCode = result;
else
  result.then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
      process.exitCode = 1;
    },
  );
