// Tables for scripts/realparts-figures.sh: `linewatch eval --json` reports (DIR/long/eval-V-sS.json,
// DIR/eval-bottle-V.json) with each bundle's training time from its model.json, as markdown —
// median and range over seeds, escapes and false rejects per seed at the bundle's threshold.
//   node scripts/realparts-table.mjs DIR
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const METRICS = ['iAuroc', 'iAp', 'pAuroc', 'pAp', 'aupro'];
const HEAD = '| I-AUROC | I-AP | P-AUROC | P-AP | AUPRO | escapes | false rejects | defects outside the view | training (s) |';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node scripts/realparts-table.mjs DIR');
  process.exit(2);
}

/** One evaluated bundle: its eval report and how long it trained (s). */
function load(evalFile, bundleDir) {
  const r = JSON.parse(readFileSync(evalFile, 'utf8'));
  const m = JSON.parse(readFileSync(join(bundleDir, 'model.json'), 'utf8'));
  const t = r.total;
  return {
    ...r.mean,
    escapes: `${t.escapes}/${t.escapes + t.caught}`,
    falseRejects: `${t.falseRejects}/${t.falseRejects + t.passed}`,
    outside: `${r.view.fullyOutside.length} fully, ${r.view.partlyOutside.length} partly of ${r.view.defective}`,
    seconds: m.training.run.seconds_total,
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const pct = (x) => (100 * x).toFixed(1);
/** "median (min–max)" in percent, or the one value. */
function cell(xs, fmt = pct) {
  if (xs.length === 1) return fmt(xs[0]);
  return `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;
}
const secs = (x) => String(Math.round(x));

function row(label, rs) {
  const metrics = METRICS.map((k) => cell(rs.map((r) => r[k])));
  const outside = [...new Set(rs.map((r) => r.outside))].join('; ');
  return `| ${label} | ${metrics.join(' | ')} | ${rs.map((r) => r.escapes).join(', ')} | ` +
    `${rs.map((r) => r.falseRejects).join(', ')} | ${outside} | ${cell(rs.map((r) => r.seconds), secs)} |`;
}

const long = join(dir, 'long');
if (existsSync(long)) {
  const byVariant = new Map();
  for (const f of readdirSync(long).sort()) {
    const m = /^eval-(.+)-s(\d+)\.json$/.exec(f);
    if (!m) continue;
    const rs = byVariant.get(m[1]) ?? [];
    rs.push(load(join(long, f), join(long, `bundle-${m[1]}-s${m[2]}`)));
    byVariant.set(m[1], rs);
  }
  console.log(`| long part, input | seeds ${HEAD}`);
  console.log(`| --- | --- ${'| --- '.repeat(9)}|`);
  for (const [v, rs] of byVariant) console.log(row(`${v} | ${rs.length}`, rs));
  console.log();
}
const bottle = ['crop', 'whole'].filter((v) => existsSync(join(dir, `eval-bottle-${v}.json`)));
if (bottle.length > 0) {
  console.log(`| bottle, view ${HEAD}`);
  console.log(`| --- ${'| --- '.repeat(9)}|`);
  for (const v of bottle) console.log(row(v, [load(join(dir, `eval-bottle-${v}.json`), join(dir, `bundle-bottle-${v}`))]));
}
