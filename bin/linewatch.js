#!/usr/bin/env node
// The compiled CLI lives in dist/ (npm run build); this shim keeps `npx linewatch` stable.
// CommonJS on purpose (bin/package.json): only a CommonJS entry runs before libuv's thread pool
// starts, which is when UV_THREADPOOL_SIZE must be set (src/util/threadpool.ts says why).
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

const dist = join(__dirname, '..', 'dist', 'src');
const cli = join(dist, 'cli.js');
if (!existsSync(cli)) {
  console.error('linewatch: dist/src/cli.js is missing: run `npm run build` first (npm start and npm test do it).');
  process.exit(2);
}
try {
  // Synchronous require of an ES module (Node ≥ 20.19); on an older Node the pool keeps its default.
  require(join(dist, 'util', 'threadpool.js')).applyThreadPoolSize(process.argv.slice(2), process.env);
} catch {
  // Sizing the pool is an optimisation; the CLI reports configuration errors itself.
}
import(pathToFileURL(cli).href).catch((err) => {
  console.error(err);
  process.exit(1);
});
