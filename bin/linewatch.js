#!/usr/bin/env node
// The compiled CLI lives in dist/ (npm run build); this shim keeps `npx linewatch` stable.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  console.error('linewatch: dist/src/cli.js is missing: run `npm run build` first (npm start and npm test do it).');
  process.exit(2);
}
await import(cli.href);
