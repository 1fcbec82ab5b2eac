import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyThreadPoolSize,
  configPathFromArgv,
  countGstreamerPipelines,
  threadPoolSizeFor,
} from '../../src/util/threadpool.js';

const THREE_CAMERAS = `
cameras:
  - { id: a, source: { type: gstreamer, input: { preset: test } } }
  - { id: b, source: { type: gstreamer, input: { preset: rtsp, url: "rtsp://cam/b" } } }
  - { id: c, source: { type: folder, path: /tmp } }
`;

test('pool size: 4 for the rest of linewatch + 2 per GStreamer pipeline (pull + bus poll)', () => {
  assert.equal(threadPoolSizeFor(0), 4);
  assert.equal(threadPoolSizeFor(3), 10);
  assert.equal(countGstreamerPipelines({ cameras: [{ source: { type: 'gstreamer' } }, { source: { type: 'folder' } }] }), 1);
  assert.equal(countGstreamerPipelines('nonsense'), 0);
  assert.equal(configPathFromArgv(['run', '-c', 'a.yaml']), 'a.yaml');
  assert.equal(configPathFromArgv(['run', '--config=b.yaml']), 'b.yaml');
  assert.equal(configPathFromArgv(['run']), undefined);
});

test('applyThreadPoolSize: computed from the configuration; a value the user set is kept; unreadable config changes nothing', () => {
  const env: NodeJS.ProcessEnv = {};
  assert.deepEqual(applyThreadPoolSize(['run', '-c', 'x.yaml'], env, () => THREE_CAMERAS), { size: 8, from: 'config', pipelines: 2 });
  assert.equal(env.UV_THREADPOOL_SIZE, '8');
  const userEnv: NodeJS.ProcessEnv = { UV_THREADPOOL_SIZE: '3' };
  assert.equal(applyThreadPoolSize(['run', '-c', 'x.yaml'], userEnv, () => THREE_CAMERAS).from, 'user');
  assert.equal(userEnv.UV_THREADPOOL_SIZE, '3');
  const none: NodeJS.ProcessEnv = {};
  applyThreadPoolSize(['run', '-c', 'missing.yaml'], none, () => {
    throw new Error('ENOENT');
  });
  assert.equal(none.UV_THREADPOOL_SIZE, undefined);
});

test('bin/linewatch.js sets UV_THREADPOOL_SIZE from the configuration before the CLI starts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-pool-'));
  try {
    const cfg = join(dir, 'c.yaml');
    writeFileSync(cfg, THREE_CAMERAS);
    // A preload that reports the variable as the process ends (the configuration itself is refused by run: no model).
    const probe = join(dir, 'probe.cjs');
    writeFileSync(probe, "process.on('exit', () => process.stderr.write(`POOL=${process.env.UV_THREADPOOL_SIZE}\\n`));");
    const env = { ...process.env };
    delete env.UV_THREADPOOL_SIZE;
    const bin = new URL('../../../bin/linewatch.js', import.meta.url).pathname;
    const r = spawnSync(process.execPath, ['-r', probe, bin, 'run', '--no-mqtt', '-c', cfg], { env, encoding: 'utf8', timeout: 30_000 });
    assert.match(r.stderr, /POOL=8\n/, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
