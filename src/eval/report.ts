/**
 * The evaluation report as one HTML file that opens from disk: charts are inline SVG, images are
 * data URIs, no script, no font or style from the network.
 *
 * Every number shown carries its exact value in `data-value` and its JSON path in `data-key`
 * (e.g. `categories.0.metrics.iAuroc`), so a test (or a person with devtools) can check the page
 * against `linewatch eval --json`.
 */
import { coverageLines } from './coverage.js';
import { lineCheckLines } from './line-check.js';
import { describePrompts } from './prompts.js';
import type { GalleryCase } from './gallery.js';
import { METRIC_KEYS, METRIC_LABELS, type CategoryResult, type Confusion, type CurvePoints, type EvalResult, type MetricSet } from './evaluate.js';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A metric cell: percent with one decimal, exact value kept in the attribute. */
function pct(v: number | null, key: string): string {
  if (v === null) return `<td class="num na" data-key="${key}" data-value="null">–</td>`;
  return `<td class="num" data-key="${key}" data-value="${v}">${(v * 100).toFixed(1)}</td>`;
}

function int(v: number, key: string): string {
  return `<td class="num" data-key="${key}" data-value="${v}">${v}</td>`;
}

function rate(v: number | null, key: string): string {
  if (v === null) return `<td class="num na" data-key="${key}" data-value="null">–</td>`;
  return `<td class="num" data-key="${key}" data-value="${v}">${(v * 100).toFixed(1)} %</td>`;
}

function num(v: number): string {
  return Math.abs(v) >= 1000 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toPrecision(4);
}

const W = 300;
const H = 240;
const PAD = { l: 42, r: 10, t: 24, b: 34 };

interface Series {
  readonly label: string;
  readonly color: string;
  readonly points: CurvePoints;
}

/** Line chart on [0, xMax] × [0, 1] with axes, ticks and a legend. */
function lineChart(title: string, xLabel: string, yLabel: string, series: readonly Series[], xMax = 1, diagonal = false): string {
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const sx = (x: number) => PAD.l + (Math.min(x, xMax) / xMax) * iw;
  const sy = (y: number) => PAD.t + (1 - y) * ih;
  const parts: string[] = [];
  parts.push(`<text x="${W / 2}" y="15" class="title" text-anchor="middle">${esc(title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const fx = (xMax * i) / 4;
    const fy = i / 4;
    parts.push(`<line x1="${sx(fx)}" y1="${PAD.t}" x2="${sx(fx)}" y2="${PAD.t + ih}" class="grid"/>`);
    parts.push(`<line x1="${PAD.l}" y1="${sy(fy)}" x2="${PAD.l + iw}" y2="${sy(fy)}" class="grid"/>`);
    parts.push(`<text x="${sx(fx)}" y="${PAD.t + ih + 13}" class="tick" text-anchor="middle">${+fx.toFixed(3)}</text>`);
    parts.push(`<text x="${PAD.l - 4}" y="${sy(fy) + 3}" class="tick" text-anchor="end">${fy}</text>`);
  }
  parts.push(`<rect x="${PAD.l}" y="${PAD.t}" width="${iw}" height="${ih}" class="frame"/>`);
  if (diagonal) parts.push(`<line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(1)}" y2="${sy(1)}" class="diag"/>`);
  series.forEach((s, k) => {
    const pts: string[] = [];
    for (let i = 0; i < s.points.x.length; i++) {
      const x = s.points.x[i] as number;
      if (x > xMax && i > 0 && (s.points.x[i - 1] as number) >= xMax) break;
      pts.push(`${sx(x).toFixed(1)},${sy(s.points.y[i] as number).toFixed(1)}`);
    }
    parts.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    parts.push(`<text x="${PAD.l + iw - 4}" y="${PAD.t + ih - 6 - 13 * k}" class="legend" text-anchor="end" fill="${s.color}">${esc(s.label)}</text>`);
  });
  parts.push(`<text x="${PAD.l + iw / 2}" y="${H - 4}" class="axis" text-anchor="middle">${esc(xLabel)}</text>`);
  parts.push(`<text x="11" y="${PAD.t + ih / 2}" class="axis" text-anchor="middle" transform="rotate(-90 11 ${PAD.t + ih / 2})">${esc(yLabel)}</text>`);
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">${parts.join('')}</svg>`;
}

/** Histograms of good and defective image scores on one axis, the threshold as a vertical line. */
function histogram(good: readonly number[], bad: readonly number[], threshold: number): string {
  const all = [...good, ...bad, threshold];
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (hi === lo) hi = lo + 1;
  const pad = (hi - lo) * 0.03;
  lo -= pad;
  hi += pad;
  const bins = 30;
  const count = (v: readonly number[]) => {
    const c = new Array<number>(bins).fill(0);
    for (const s of v) c[Math.min(bins - 1, Math.floor(((s - lo) / (hi - lo)) * bins))]! += 1;
    return c;
  };
  const cg = count(good);
  const cb = count(bad);
  // Round the count axis up to a multiple of 4 so its five ticks are whole numbers.
  const top = Math.max(4, Math.ceil(Math.max(...cg, ...cb) / 4) * 4);
  const w = 2 * W;
  const iw = w - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const sx = (x: number) => PAD.l + ((x - lo) / (hi - lo)) * iw;
  const bw = iw / bins;
  const parts: string[] = [`<text x="${PAD.l}" y="15" class="title" text-anchor="start">Image scores: good vs defective</text>`];
  for (let i = 0; i <= 4; i++) {
    const y = PAD.t + ih - (ih * i) / 4;
    parts.push(`<line x1="${PAD.l}" y1="${y}" x2="${PAD.l + iw}" y2="${y}" class="grid"/>`);
    parts.push(`<text x="${PAD.l - 4}" y="${y + 3}" class="tick" text-anchor="end">${(top * i) / 4}</text>`);
  }
  for (let i = 0; i < bins; i++) {
    const x = PAD.l + i * bw;
    const hg = ((cg[i] as number) / top) * ih;
    const hb = ((cb[i] as number) / top) * ih;
    if (hg > 0) parts.push(`<rect x="${x.toFixed(1)}" y="${(PAD.t + ih - hg).toFixed(1)}" width="${(bw / 2).toFixed(1)}" height="${hg.toFixed(1)}" class="good"/>`);
    if (hb > 0) parts.push(`<rect x="${(x + bw / 2).toFixed(1)}" y="${(PAD.t + ih - hb).toFixed(1)}" width="${(bw / 2).toFixed(1)}" height="${hb.toFixed(1)}" class="bad"/>`);
  }
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    parts.push(`<text x="${sx(v)}" y="${PAD.t + ih + 13}" class="tick" text-anchor="middle">${num(v)}</text>`);
  }
  parts.push(`<rect x="${PAD.l}" y="${PAD.t}" width="${iw}" height="${ih}" class="frame"/>`);
  parts.push(`<line x1="${sx(threshold)}" y1="${PAD.t}" x2="${sx(threshold)}" y2="${PAD.t + ih}" class="thr"/>`);
  // Label on the side of the line with room for it.
  const right = sx(threshold) < PAD.l + iw * 0.7;
  parts.push(
    `<text x="${sx(threshold) + (right ? 4 : -4)}" y="${PAD.t + 12}" class="legend thrtext" text-anchor="${right ? 'start' : 'end'}">threshold ${num(threshold)}</text>`,
  );
  // Legend on the title line, clear of the bars.
  parts.push(`<text x="${w - PAD.r - 125}" y="15" class="legend goodtext" text-anchor="end">■ good (${good.length})</text>`);
  parts.push(`<text x="${w - PAD.r}" y="15" class="legend badtext" text-anchor="end">■ defective (${bad.length})</text>`);
  parts.push(`<text x="${PAD.l + iw / 2}" y="${H - 4}" class="axis" text-anchor="middle">raw image score</text>`);
  return `<svg viewBox="0 0 ${w} ${H}" width="${w}" height="${H}" role="img" aria-label="score histogram">${parts.join('')}</svg>`;
}

function metricRow(name: string, m: MetricSet, prefix: string): string {
  return `<tr><th>${esc(name)}</th>${METRIC_KEYS.map((k) => pct(m[k], `${prefix}.${k}`)).join('')}</tr>`;
}

function confusionRow(name: string, c: Confusion, prefix: string): string {
  return (
    `<tr><th>${esc(name)}</th>${int(c.caught, `${prefix}.caught`)}${int(c.escapes, `${prefix}.escapes`)}` +
    `${int(c.falseRejects, `${prefix}.falseRejects`)}${int(c.passed, `${prefix}.passed`)}${int(c.errors, `${prefix}.errors`)}` +
    `${rate(c.escapeRate, `${prefix}.escapeRate`)}${rate(c.falseRejectRate, `${prefix}.falseRejectRate`)}</tr>`
  );
}

function galleryHtml(cases: readonly GalleryCase[]): string {
  if (cases.length === 0) return '<p class="muted">No images were scored.</p>';
  return '<div class="gallery">' + cases
    .map(
      (g) => `<figure class="case ${g.why === 'missed defect' || g.why === 'false reject' ? 'wrong' : ''}">
<figcaption><b>${esc(g.why)}</b> · ${esc(g.name)} · score ${num(g.score)} (normalised ${g.normScore.toFixed(3)}) · verdict ${g.verdict}</figcaption>
<div class="trio"><div><img src="${g.image}" alt="image"/><span>image</span></div><div><img src="${g.overlay}" alt="anomaly map"/><span>anomaly map (0.5 = pixel threshold)</span></div><div>${g.truth ? `<img src="${g.truth}" alt="ground truth"/>` : '<div class="none">no defect</div>'}<span>ground truth</span></div></div>
</figure>`,
    )
    .join('\n') + '</div>';
}

function categorySection(c: CategoryResult, i: number, threshold: number, cases: readonly GalleryCase[]): string {
  const charts: string[] = [];
  if (c.curves.imageRoc) charts.push(lineChart('Image ROC', 'false positive rate', 'true positive rate', [{ label: `AUROC ${((c.metrics.iAuroc ?? 0) * 100).toFixed(1)}`, color: '#1f6fb2', points: c.curves.imageRoc }], 1, true));
  if (c.curves.imagePr) charts.push(lineChart('Image precision–recall', 'recall', 'precision', [{ label: `AP ${((c.metrics.iAp ?? 0) * 100).toFixed(1)}`, color: '#b2461f', points: c.curves.imagePr }]));
  if (c.curves.pixelRoc) charts.push(lineChart('Pixel ROC', 'false positive rate', 'true positive rate', [{ label: `P-AUROC ${((c.metrics.pAuroc ?? 0) * 100).toFixed(1)}`, color: '#1f6fb2', points: c.curves.pixelRoc }], 1, true));
  if (c.curves.pro) charts.push(lineChart('PRO (to FPR 0.3)', 'false positive rate', 'per-region overlap', [{ label: `AUPRO ${((c.metrics.aupro ?? 0) * 100).toFixed(1)}`, color: '#2e8b57', points: c.curves.pro }], 0.3));
  return `<section class="category" id="cat-${i}">
<h2>${esc(c.name)} <small>${c.good} good, ${c.defective} defective${c.hasMasks ? '' : ', no masks (image metrics only)'}</small></h2>
<div class="charts">${charts.join('')}</div>
<div class="charts">${histogram(c.scores.good, c.scores.defective, threshold)}</div>
<h3>Worst cases</h3>
${galleryHtml(cases)}
</section>`;
}

const STYLE = `body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2125;max-width:1100px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-top:1px solid #ddd;padding-top:16px}h2 small{font-weight:normal;color:#666;font-size:13px}
table{border-collapse:collapse;margin:8px 0 16px}th,td{padding:4px 10px;border-bottom:1px solid #e5e5e5;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.mean th,tr.mean td{font-weight:bold;border-top:2px solid #999}.na,.muted{color:#999}dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:8px 0}dt{color:#666}dd{margin:0;word-break:break-all}.warning{color:#a40;font-weight:bold}
.charts{display:flex;flex-wrap:wrap;gap:12px}svg{background:#fff;border:1px solid #e5e5e5}.title{font-size:13px;font-weight:600}.tick{font-size:10px;fill:#555}
.axis{font-size:11px;fill:#333}.legend{font-size:11px;font-weight:600}.grid{stroke:#eee}.frame{fill:none;stroke:#888}.diag{stroke:#bbb;stroke-dasharray:4 3}
.good{fill:#3a8fd8;opacity:.8}.bad{fill:#d8553a;opacity:.8}.goodtext{fill:#3a8fd8}.badtext{fill:#d8553a}.thr{stroke:#111;stroke-width:2;stroke-dasharray:5 3}.thrtext{fill:#111}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(530px,1fr));gap:10px}.case{margin:0;padding:8px;border:1px solid #e5e5e5;border-radius:4px}.case.wrong{border-color:#d8553a;background:#fff6f4}.trio{display:flex;gap:8px}
.trio>div{display:flex;flex-direction:column;align-items:center;font-size:11px;color:#666}.trio img,.none{width:165px;height:165px;object-fit:contain;image-rendering:auto;background:#f4f4f4}
.none{display:flex;align-items:center;justify-content:center}figcaption{margin-bottom:6px;font-size:13px}`;

/**
 * Renders the report. `result.report` is exactly what `--json` prints.
 * @example await writeFile('eval.html', renderReport(await evaluate(bundle, dataset)));
 */
export function renderReport(result: EvalResult): string {
  const r = result.report;
  const metricHead = `<tr><th>category</th>${METRIC_KEYS.map((k) => `<th>${METRIC_LABELS[k]}</th>`).join('')}</tr>`;
  const metricRows = r.categories.map((c, i) => metricRow(c.name, c.metrics, `categories.${i}.metrics`)).join('');
  const meanRow = r.categories.length > 1 ? metricRow('mean', r.mean, 'mean').replace('<tr>', '<tr class="mean">') : '';
  const confHead = '<tr><th>category</th><th>defective rejected</th><th>escapes</th><th>false rejects</th><th>good passed</th><th>errors</th><th>escape rate</th><th>false-reject rate</th></tr>';
  const confRows = r.categories.map((c, i) => confusionRow(c.name, c.confusion, `categories.${i}.confusion`)).join('');
  const total = confusionRow('total', r.total, 'total').replace('<tr>', '<tr class="mean">');
  const sections = r.categories
    .map((c, i) => categorySection(c, i, r.thresholds.image, result.gallery.filter((g) => g.category === c.name)))
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>linewatch eval — ${esc(r.model.version)} on ${esc(r.data)}</title><style>${STYLE}</style></head>
<body>
<h1>linewatch evaluation</h1>
<dl>
<dt>model</dt><dd>${esc(r.model.version)} (${esc(r.model.architecture)}) — ${esc(r.model.dir)}</dd>
<dt>sha256</dt><dd>${esc(r.model.sha256)}</dd>
<dt>data</dt><dd>${esc(r.data)}</dd>
<dt>execution provider</dt><dd>${esc(r.model.provider)}</dd>${r.prompts === null ? '' : `
<dt>prompts</dt><dd>${esc(describePrompts(r.prompts))}</dd>`}
<dt>thresholds (raw)</dt><dd>image <span data-key="thresholds.image" data-value="${r.thresholds.image}">${num(r.thresholds.image)}</span>, pixel <span data-key="thresholds.pixel" data-value="${r.thresholds.pixel}">${num(r.thresholds.pixel)}</span>, reject on ${esc(r.thresholds.rejectOn)}</dd>
<dt>created</dt><dd>${esc(r.createdAt)}</dd>
<dt>pixel metrics</dt><dd>${esc(r.pixelMethod)}</dd>
</dl>
<h2>Detection metrics (%)</h2>
<p class="muted">Authors' definitions: AUPRO integrates the per-region overlap of 8-connected ground-truth regions up to a false positive rate of 0.3, divided by 0.3.</p>
<table class="metrics">${metricHead}${metricRows}${meanRow}</table>
<h2>At the bundle's current thresholds</h2>
<p class="muted">What the line would have done with these images: escapes are defective parts accepted, false rejects good parts rejected.</p>
<table class="confusion">${confHead}${confRows}${total}</table>
${[...lineCheckLines(r.total), ...coverageLines(r.view)].map((l) => `<p${l.startsWith('WARNING') ? ' class="warning"' : ''}>${esc(l)}</p>`).join('\n')}
${sections}
</body></html>
`;
}
