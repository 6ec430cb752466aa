#!/usr/bin/env node
// The `rt` command: see `rt --help`.
import { main } from '../dist/cli.mjs';

main(process.argv.slice(2)).catch((error) => {
  console.error(`rt: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
