import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import type { EvalReport } from '../../src/eval/evaluate.js';
import { makeMvtecSet } from './helpers/make-set.js';
import { runEvalCli } from './helpers/run-cli.js';
import { requireTool, skipUnlessTool } from '../helpers/tools.js';

const run = promisify(execFile);
const CHROMIUM = '/usr/bin/chromium';
const fixture = new URL('../../../test/fixtures/models/tiny-inp', import.meta.url).pathname;

function lookup(obj: unknown, key: string): unknown {
  let cur: unknown = obj;
  for (const part of key.split('.')) cur = (cur as Record<string, unknown>)[part];
  return cur;
}

const chromium = existsSync(CHROMIUM) ? null : `${CHROMIUM} is not installed (Debian: chromium)`;

test('the HTML report renders in headless Chromium from disk, and its numbers are the JSON\'s', { skip: skipUnlessTool(chromium) }, async (t) => {
  requireTool(chromium);
  const root = await mkdtemp(join(tmpdir(), 'lw-eval-report-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const model = join(root, 'model');
  await cp(fixture, model, { recursive: true });
  const set = await makeMvtecSet({ root: join(root, 'data'), good: 6, bad: 6, seed: 3 });
  const html = join(root, 'report.html');
  const r = await runEvalCli(['eval', '--model', model, '--data', set.root, '--report', html, '--json']);
  assert.equal(r.exitCode, 0, r.stderr);
  const json = JSON.parse(r.stdout) as EvalReport;

  const source = await readFile(html, 'utf8');
  assert.doesNotMatch(source, /(src|href)\s*=\s*["']?(https?:)?\/\//i, 'nothing loaded from a network');
  assert.doesNotMatch(source, /<script/i, 'no script needed');

  const profile = join(root, 'chromium-profile');
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', `--user-data-dir=${profile}`, '--hide-scrollbars'];
  const { stdout: dom } = await run(CHROMIUM, [...flags, '--dump-dom', `file://${html}`], { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 });

  // Every number the page shows carries its JSON path and exact value; all must match the JSON.
  const cells = [...dom.matchAll(/data-key="([^"]+)" data-value="([^"]+)">([^<]*)</g)];
  const keys = new Set(cells.map((c) => c[1]));
  for (const k of ['iAuroc', 'iAp', 'iF1max', 'pAuroc', 'pAp', 'pF1max', 'aupro']) assert.ok(keys.has(`categories.0.metrics.${k}`), k);
  for (const k of ['escapes', 'falseRejects', 'caught', 'passed']) assert.ok(keys.has(`total.${k}`), k);
  assert.ok(keys.has('thresholds.image'));
  for (const [, key, value, shown] of cells) {
    const want = lookup(json, key as string);
    if (value === 'null') {
      assert.equal(want, null, key);
      continue;
    }
    assert.equal(Number(value), want, `${key}: page ${value}, JSON ${String(want)}`);
    if ((key as string).includes('.metrics.')) assert.equal(shown, ((want as number) * 100).toFixed(1), `${key} as shown`);
    if (/\.(escapes|falseRejects|caught|passed|errors)$/.test(key as string)) assert.equal(shown, String(want), `${key} as shown`);
  }
  // Charts and gallery made it into the rendered page.
  assert.equal((dom.match(/<svg/g) ?? []).length, 5, 'image ROC, image PR, pixel ROC, PRO, histogram');
  assert.match(dom, /threshold 0\.8337/);
  const imgs = (dom.match(/<img /g) ?? []).length;
  const defectiveShown = json.categories[0]?.worst.filter((w) => w.label === 1).length ?? 0;
  const goodShown = json.categories[0]?.worst.filter((w) => w.label === 0).length ?? 0;
  assert.equal(imgs, defectiveShown * 3 + goodShown * 2, 'image, overlay and (for defects) ground truth per case');

  // A screenshot that is not blank: the page paints.
  const shot = join(root, 'report.png');
  await run(CHROMIUM, [...flags, '--window-size=1150,1600', `--screenshot=${shot}`, `file://${html}`], { timeout: 60_000 });
  const stats = await sharp(shot).stats();
  assert.ok(stats.channels.every((c) => c.stdev > 10), 'the screenshot has content');
});
