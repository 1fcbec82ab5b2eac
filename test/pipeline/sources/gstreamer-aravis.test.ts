import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { REASON } from '../../../src/pipeline/decide.js';
import { useOwnPlugins } from '../../../src/pipeline/sources/gstreamer/own-elements.js';
import { firstMissing, missingCommand, missingGstElement, requireTool, skipUnlessTool, type Missing } from '../../helpers/tools.js';

/**
 * A GigE Vision camera simulated by aravis (arv-fake-gv-camera-0.8 on loopback: 512×512 BayerBG8)
 * read by the gstreamer source — through linewatch's own lwaravissrc (the camera's frame ids) and
 * through Debian's aravissrc (the fallback) —, demosaiced to RGB in GStreamer. The readers run in
 * a child without CAP_NET_RAW (capsh), because as root aravis's packet socket sees no loopback
 * traffic (docs/cameras.md).
 */

const READER = new URL('./helpers/aravis-reader.js', import.meta.url).pathname;
const STATION = new URL('./helpers/aravis-station.js', import.meta.url).pathname;
const ROOT = new URL('../../../../', import.meta.url).pathname;

// GST_PLUGIN_PATH for this process and its children (gst-inspect-1.0, the readers): build/gst/.
useOwnPlugins();

const fakeGige = (): Missing =>
  firstMissing(
    () => missingCommand('arv-fake-gv-camera-0.8', 'aravis-tools'),
    () => missingCommand('capsh', 'libcap2-bin'),
  );
const ownElement = (): Missing =>
  missingGstElement('lwaravissrc', 'libaravis-dev, then `bash scripts/build-gst-plugin.sh` (npm test does it)');
const missingFor = {
  lwaravissrc: firstMissing(ownElement, fakeGige),
  aravissrc: firstMissing(() => missingGstElement('aravissrc', 'libaravis-0.8-0'), fakeGige),
};
const missingBuild = firstMissing(
  () => missingCommand('cc', 'build-essential'),
  () => missingCommand('gst-inspect-1.0', 'gstreamer1.0-tools'),
  () => (spawnSync('pkg-config', ['--exists', 'aravis-0.8', 'gstreamer-base-1.0']).status === 0 ? null : 'pkg-config finds no aravis-0.8 / gstreamer-base-1.0 (Debian: libaravis-dev libusb-1.0-0-dev libgstreamer1.0-dev)'),
);

/** The fake camera; `lossPerMille` of its stream packets are not sent (its own option). */
function fakeCamera(lossPerMille = 0): ChildProcess {
  const args = ['-i', '127.0.0.1', ...(lossPerMille > 0 ? ['-r', String(lossPerMille)] : [])];
  return spawn('arv-fake-gv-camera-0.8', args, { stdio: 'ignore' });
}

async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  p.kill('SIGKILL');
  await gone;
}

type Line = {
  seq?: number;
  format?: string;
  width?: number;
  height?: number;
  means?: number[];
  lagMs?: number;
  capturedNs?: string;
  ptsNs?: number;
  health?: { state: string; reason?: string };
  lostSeq?: number;
  lostReason?: string;
  error?: string;
};

/** Starts `script` (without CAP_NET_RAW) with a source config and a count; its JSON lines. */
function child<L>(script: string, config: unknown, count: number): { child: ChildProcess; lines: AsyncIterable<L> } {
  const cmd = `exec node ${script} '${JSON.stringify(config)}' ${count}`;
  const child = spawn('capsh', ['--drop=cap_net_raw', '--', '-c', cmd], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, UV_THREADPOOL_SIZE: '8' },
  });
  const rl = createInterface({ input: child.stdout! });
  async function* lines(): AsyncIterable<L> {
    for await (const l of rl) if (l.startsWith('{')) yield JSON.parse(l) as L;
  }
  return { child, lines: lines() };
}

/** Starts the reader: frames, lost frames and health changes of the bare source. */
function reader(config: unknown, count: number): { child: ChildProcess; lines: AsyncIterable<Line> } {
  return child<Line>(READER, config, count);
}

for (const element of ['lwaravissrc', 'aravissrc'] as const) {
  test(`fake GigE camera through ${element}: Bayer demosaiced to RGB in GStreamer; unplugged → degraded, back → frames resume, seq continues`, { skip: skipUnlessTool(missingFor[element]), timeout: 120_000 }, async () => {
    requireTool(missingFor[element]);
    let camera = fakeCamera();
    const config = {
      type: 'gstreamer',
      format: 'RGB',
      stallTimeoutMs: 3_000,
      restart: { initialDelayMs: 300, maxDelayMs: 1_000, jitter: 0 },
      input: { preset: 'aravis', element, camera: 'Aravis-Fake-GV01', pixelFormat: 'BayerBG8' },
    };
    const { child, lines } = reader(config, 8);
    try {
      const frames: (Line & { run: number })[] = [];
      const states: string[] = [];
      let runs = 0; // a degraded state ends a run: the next frames come from a new one
      const lost: Line[] = [];
      let unplugged = false;
      let replugged = false;
      for await (const line of lines) {
        if (line.error !== undefined) assert.fail(line.error);
        if (line.health !== undefined) {
          states.push(line.health.state);
          if (line.health.state === 'degraded') runs++;
          if (line.health.state === 'degraded' && unplugged && !replugged) {
            replugged = true;
            camera = fakeCamera(); // plugged back in
          }
          continue;
        }
        if (line.lostSeq !== undefined) {
          lost.push(line);
          continue;
        }
        frames.push({ ...line, run: runs });
        if (frames.length === 3 && !unplugged) {
          unplugged = true;
          await stopProcess(camera);
        }
        if (frames.length === 8) break;
      }
      assert.equal(frames.length, 8, `states ${states.join(' → ')}`);
      // seq goes on across the reconnect, gap-free: frames lost on the way (lwaravissrc: gaps in the
      // camera's frame ids; aravissrc tells none) and what the appsink held when the camera vanished
      // (discarded by the restart) become lost frames with seqs of their own — every seq is a
      // delivered or a lost frame, once.
      const seqs = [...frames.map((x) => x.seq!), ...lost.map((x) => x.lostSeq!)].sort((x, y) => x - y);
      assert.deepEqual(seqs, [...Array(seqs.length).keys()], `frames ${frames.map((x) => x.seq).join(',')} lost ${JSON.stringify(lost)}`);
      for (let i = 1; i < frames.length; i++) assert.ok(frames[i]!.seq! > frames[i - 1]!.seq!, 'delivered frames in seq order');
      // Capture times come from the buffers' PTS (lwaravissrc: when the frame's first packet reached
      // the host; aravissrc: the camera clock, the first frame of a run anchored at its arrival):
      // within a run, capture times are exactly as far apart as the PTS, and each precedes the
      // frame's arrival in Node.
      for (const f of frames) assert.ok(typeof f.ptsNs === 'number' && f.lagMs! >= 0, JSON.stringify(f));
      // Under load the camera can stall before the unplug too (a restart of its own), so the pair is
      // the first two frames in a row of one run.
      const i = frames.findIndex((x, k) => k > 0 && x.run === frames[k - 1]!.run);
      assert.ok(i > 0, `two frames of one run (runs ${frames.map((x) => x.run).join(',')}, states ${states.join(' → ')})`);
      const [a, b] = [frames[i - 1]!, frames[i]!];
      assert.equal(BigInt(b.capturedNs!) - BigInt(a.capturedNs!), BigInt(b.ptsNs! - a.ptsNs!), 'capture interval = camera timestamp interval');
      const f = frames[0]!;
      assert.deepEqual([f.format, f.width, f.height], ['RGB', 512, 512]);
      // The demosaic produced colour planes (a grey Bayer pattern would leave all three equal only by chance).
      assert.equal(f.means!.length, 3);
      assert.ok(f.means!.every((m) => m > 0 && m < 255), `means ${f.means}`);
      const firstDegraded = states.indexOf('degraded');
      assert.ok(firstDegraded > 0, `states ${states.join(' → ')}`);
      assert.ok(states.slice(firstDegraded).includes('running'), `states ${states.join(' → ')}`);
    } finally {
      await stopProcess(child);
      await stopProcess(camera);
    }
  });
}

type StationLine = {
  verdict?: { seq: number; verdict: string; code: string | null; meta: Record<string, unknown>; frameId: unknown };
  counters?: { received: number; ok: number; reject: number; error: number; dropped: number; inFlight: number; lost: number };
  losses?: unknown;
  error?: string;
};

/** GVSP 1.x block ids: 16 bits, 0 never used, so 65535 is followed by 1. */
const nextId = (id: number): number => (id === 65535 ? 1 : id + 1);

test('fake GigE camera on a lossy network through lwaravissrc → the Station: every verdict carries the camera\'s frame id, in order; each id the network lost is one dropped verdict; the identity holds', { skip: skipUnlessTool(missingFor.lwaravissrc), timeout: 120_000 }, async () => {
  requireTool(missingFor.lwaravissrc);
  // 1 % of the stream's packets go missing and no resend is asked for: a 128×128 frame (a dozen
  // packets) is lost about one time in nine, as incomplete (ARV_BUFFER_STATUS_MISSING_PACKETS).
  const camera = fakeCamera(10);
  const source = {
    type: 'gstreamer',
    format: 'RGB',
    width: 64,
    height: 64,
    // Room for every frame of the run: the appsink drops none, so every loss is the network's.
    maxBuffers: 64,
    input: { preset: 'aravis', camera: 'Aravis-Fake-GV01', pixelFormat: 'BayerBG8', width: 128, height: 128, fps: 20, packetResend: false },
  };
  const frames = 150;
  const { child: station, lines } = child<StationLine>(STATION, source, frames);
  try {
    const verdicts: NonNullable<StationLine['verdict']>[] = [];
    let end: StationLine | null = null;
    for await (const line of lines) {
      if (line.error !== undefined) assert.fail(line.error);
      if (line.verdict !== undefined) verdicts.push(line.verdict);
      if (line.counters !== undefined) end = line;
    }
    assert.ok(end !== null && end.counters !== undefined, `the station ended (${verdicts.length} verdicts)`);
    const c = end.counters;
    verdicts.sort((a, b) => a.seq - b.seq);
    assert.deepEqual(verdicts.map((v) => v.seq), [...Array(verdicts.length).keys()], 'one verdict per seq, gap-free');
    // Every verdict names its frame by the camera's id, and in seq order the ids follow each
    // other without a gap: a delivered frame's id, or a dropped verdict for each id that never came.
    const ids = verdicts.map((v) => v.meta['sourceOffset']);
    for (const [i, id] of ids.entries()) {
      assert.equal(typeof id, 'number', `verdict ${i} has no frame id: ${JSON.stringify(verdicts[i])}`);
      assert.equal(verdicts[i]!.frameId, id, 'the frame id on …/result');
    }
    for (let i = 1; i < ids.length; i++) {
      assert.equal(ids[i], nextId(ids[i - 1] as number), `frame ids in order: ${ids.slice(Math.max(0, i - 3), i + 3).join(',')}`);
    }
    const lost = verdicts.filter((v) => v.code === REASON.LOST);
    assert.ok(lost.length > 0, `the lossy network lost no frame in ${verdicts.length}`);
    for (const v of lost) {
      assert.equal(v.verdict, 'dropped');
      assert.equal(v.meta['lost'], 'upstream', JSON.stringify(v));
    }
    for (const v of verdicts.filter((x) => x.code !== REASON.LOST)) assert.notEqual(v.verdict, 'dropped', JSON.stringify(v));
    // The fake camera starts its ids a little below 65535: a run this long crosses the 16-bit wrap.
    if ((ids[0] as number) > 65535 - verdicts.length + 10) assert.ok(ids.includes(1) || ids.includes(2), `ids wrap past 65535: ${ids.join(',')}`);
    assert.equal(c.received, c.ok + c.reject + c.error + c.dropped + c.inFlight, JSON.stringify(c));
    assert.equal(c.received, verdicts.length);
    assert.equal(c.lost, lost.length);
    assert.deepEqual(end.losses, { dropped: 'per-frame', upstream: 'offsets' });
  } finally {
    await stopProcess(station);
    await stopProcess(camera);
  }
});

test('scripts/build-gst-plugin.sh builds an lwaravissrc that GStreamer loads, and leaves an up-to-date one alone', { skip: skipUnlessTool(missingBuild), timeout: 120_000 }, () => {
  requireTool(missingBuild);
  const dir = mkdtempSync(join(tmpdir(), 'lw-gstplugin-'));
  try {
    const build = (): ReturnType<typeof spawnSync> => spawnSync('bash', ['scripts/build-gst-plugin.sh', '--out', dir], { cwd: ROOT, encoding: 'utf8' });
    const first = build();
    assert.equal(first.status, 0, String(first.stderr));
    assert.match(String(first.stderr), /building lwaravissrc/);
    const again = build();
    assert.equal(again.status, 0, String(again.stderr));
    assert.equal(String(again.stderr), '', 'up to date: not rebuilt');
    // Its own registry file, so the user's cache is neither read nor written.
    const env = { ...process.env, GST_PLUGIN_PATH: dir, GST_REGISTRY: join(dir, 'registry.bin') };
    const inspect = spawnSync('gst-inspect-1.0', ['lwaravissrc'], { env, encoding: 'utf8' });
    assert.equal(inspect.status, 0, `${inspect.stdout}${inspect.stderr}`);
    for (const p of ['camera-name', 'exposure', 'gain', 'packet-size', 'packet-resend', 'features', 'frames-failed']) {
      assert.match(inspect.stdout, new RegExp(`\\n\\s+${p}\\s`), `property ${p}`);
    }
    assert.match(inspect.stdout, new RegExp(`Filename\\s+${dir}/libgstlwaravis.so`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
