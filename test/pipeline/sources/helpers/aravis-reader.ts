/**
 * Child process for the aravis test: reads `count` frames from the gstreamer source described by
 * argv[2] (JSON) and prints one JSON line per frame, then exits. It runs under
 * `capsh --drop=cap_net_raw` so that aravis receives the fake camera's loopback stream on a plain
 * UDP socket (see docs/cameras.md).
 */
import { createGstreamerSource, gstreamerSourceSchema } from '../../../../src/pipeline/sources/gstreamer/index.js';

const config = gstreamerSourceSchema.parse(JSON.parse(process.argv[2] ?? '{}'));
const count = Number(process.argv[3] ?? '3');
const source = createGstreamerSource(config, 'gige1');
source.health$.subscribe((h) => process.stdout.write(`${JSON.stringify({ health: h })}\n`));
// Frames the source knows it lost take a seq of their own (a restart discards what the appsink held).
source.losses$?.subscribe((l) => process.stdout.write(`${JSON.stringify({ lostSeq: l.seq, lostReason: l.reason })}\n`));
let n = 0;
const sub = source.frames().subscribe({
  next: (f) => {
    const img = f.image;
    if (img.kind !== 'raw') return;
    // Mean of each channel over the image: the demosaiced colours of the fake camera's pattern.
    const ch = img.format === 'RGB' ? 3 : 1;
    const sums = [0, 0, 0];
    const stride = img.strideBytes ?? img.width * ch;
    for (let y = 0; y < img.height; y++) {
      for (let x = 0; x < img.width; x++) for (let c = 0; c < ch; c++) sums[c]! += img.data[y * stride + x * ch + c]!;
    }
    const means = sums.slice(0, ch).map((s) => Math.round(s / (img.width * img.height)));
    // Arrival in Node beside the capture time the source derived from the camera's timestamps.
    const lagMs = Number(process.hrtime.bigint() - f.capturedAt.monoNs) / 1e6;
    const capturedNs = String(f.capturedAt.monoNs);
    const line = { seq: f.seq, format: img.format, width: img.width, height: img.height, bytes: img.data.length, means, lagMs, capturedNs, ptsNs: f.meta['ptsNs'] };
    process.stdout.write(`${JSON.stringify(line)}\n`);
    if (++n >= count) {
      sub.unsubscribe();
      process.exit(0);
    }
  },
  error: (err: unknown) => {
    process.stdout.write(`${JSON.stringify({ error: String(err) })}\n`);
    process.exit(1);
  },
});
