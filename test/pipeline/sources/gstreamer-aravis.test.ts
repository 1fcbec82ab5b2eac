import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { firstMissing, missingCommand, missingGstElement, requireTool, skipUnlessTool } from '../../helpers/tools.js';

/**
 * A GigE Vision camera simulated by aravis (arv-fake-gv-camera-0.8 on loopback: 512×512 BayerBG8)
 * read through aravissrc by the gstreamer source, demosaiced to RGB in GStreamer. The reader runs
 * in a child without CAP_NET_RAW (capsh), because as root aravis's packet socket sees no loopback
 * traffic (docs/cameras.md).
 */

const READER = new URL('./helpers/aravis-reader.js', import.meta.url).pathname;

const missing = firstMissing(
  () => missingGstElement('aravissrc', 'libaravis-0.8-0'),
  () => missingCommand('arv-fake-gv-camera-0.8', 'aravis-tools'),
  () => missingCommand('capsh', 'libcap2-bin'),
);

function fakeCamera(): ChildProcess {
  return spawn('arv-fake-gv-camera-0.8', ['-i', '127.0.0.1'], { stdio: 'ignore' });
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

/** Starts the reader (without CAP_NET_RAW); its JSON lines: frames and health changes. */
function reader(config: unknown, count: number): { child: ChildProcess; lines: AsyncIterable<Line> } {
  const cmd = `exec node ${READER} '${JSON.stringify(config)}' ${count}`;
  const child = spawn('capsh', ['--drop=cap_net_raw', '--', '-c', cmd], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, UV_THREADPOOL_SIZE: '8' },
  });
  const rl = createInterface({ input: child.stdout! });
  async function* lines(): AsyncIterable<Line> {
    for await (const l of rl) if (l.startsWith('{')) yield JSON.parse(l) as Line;
  }
  return { child, lines: lines() };
}

test('fake GigE camera through aravissrc: Bayer demosaiced to RGB in GStreamer; unplugged → degraded, back → frames resume, seq continues', { skip: skipUnlessTool(missing), timeout: 120_000 }, async () => {
  requireTool(missing);
  let camera = fakeCamera();
  const config = {
    type: 'gstreamer',
    format: 'RGB',
    stallTimeoutMs: 3_000,
    restart: { initialDelayMs: 300, maxDelayMs: 1_000, jitter: 0 },
    input: { preset: 'aravis', camera: 'Aravis-Fake-GV01', pixelFormat: 'BayerBG8' },
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
    // seq goes on across the reconnect, gap-free: aravissrc tells no lost frames (no offsets, no
    // DISCONT), but what the appsink held when the camera vanished is discarded by the restart and
    // becomes lost frames with seqs of their own — every seq is a delivered or a lost frame, once.
    const seqs = [...frames.map((x) => x.seq!), ...lost.map((x) => x.lostSeq!)].sort((x, y) => x - y);
    assert.deepEqual(seqs, [...Array(seqs.length).keys()], `frames ${frames.map((x) => x.seq).join(',')} lost ${JSON.stringify(lost)}`);
    for (let i = 1; i < frames.length; i++) assert.ok(frames[i]!.seq! > frames[i - 1]!.seq!, 'delivered frames in seq order');
    // Capture times come from the camera's own timestamps (aravissrc's PTS: the camera clock, the
    // first frame of a run anchored at its arrival): within a run, capture times are exactly as far
    // apart as the camera's timestamps, and each precedes the frame's arrival in Node.
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
