import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseConfig, parseYaml } from '../../../src/config/load.js';
import { buildLaunch } from '../../../src/pipeline/sources/gstreamer/index.js';
import { gstreamer } from '../../../src/pipeline/sources/gstreamer/binding.js';
import { lineScanConfigSchema } from '../../../src/pipeline/tiler/schema.js';

/** The example configurations in configs/ validate, and GStreamer parses the pipelines they build. */

const root = new URL('../../../../configs/', import.meta.url);
const hasAravis = spawnSync('gst-inspect-1.0', ['aravissrc']).status === 0;

function load(name: string): { raw: Record<string, unknown>; lineScans: unknown[] } {
  const raw = parseYaml(readFileSync(new URL(name, root), 'utf8'), name) as Record<string, unknown>;
  // `lineScan` is the tiler's section, not yet part of the configuration schema: validated apart.
  const lineScans: unknown[] = [];
  const cameras = (raw.cameras as Record<string, unknown>[]).map((c) => {
    const { lineScan, ...rest } = c;
    if (lineScan !== undefined) lineScans.push(lineScan);
    return rest;
  });
  return { raw: { ...raw, cameras }, lineScans };
}

for (const name of ['gige-area-scan.yaml', 'rtsp.yaml', 'line-scan.yaml']) {
  test(`configs/${name} validates and its pipeline parses`, () => {
    const { raw, lineScans } = load(name);
    const config = parseConfig(raw, name);
    for (const ls of lineScans) lineScanConfigSchema.parse(ls);
    if (name === 'line-scan.yaml') assert.equal(lineScans.length, 1);
    const cam = config.cameras[0]!;
    assert.equal(cam.source.type, 'gstreamer');
    if (cam.source.type !== 'gstreamer') return;
    const plan = buildLaunch(cam.source);
    if (cam.source.input.preset === 'aravis' && !hasAravis) return;
    // Parse only (no play): camera-name would make aravissrc look for the camera, so leave it out.
    const desc = plan.description.replace(/ camera-name="[^"]*"/, '');
    const { Pipeline } = gstreamer();
    const p = new Pipeline(desc);
    assert.ok(p.findChild(plan.sinkName), `appsink in ${desc}`);
    p.stop();
  });
}
