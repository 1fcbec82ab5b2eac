/**
 * Child process for the frame-id test: runs a Station (the tiny model) on one aravis camera
 * described by argv[2] (JSON), stops it after argv[3] frames, and prints one JSON line per verdict
 * (`{verdict: …}`, with the `frameId` its …/result message carries), then `{counters, losses}`. It runs under `capsh --drop=cap_net_raw` so that
 * aravis receives the fake camera's loopback stream on a plain UDP socket (docs/cameras.md).
 */
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../../../src/config/load.js';
import { resultPayload } from '../../../../src/io/mqtt/messages.js';
import { Station } from '../../../../src/pipeline/station.js';

const TINY = fileURLToPath(new URL('../../../../../test/fixtures/models/tiny-inp', import.meta.url));
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

const source: unknown = JSON.parse(process.argv[2] ?? '{}');
const frames = Number(process.argv[3] ?? '50');
const config = parseConfig(
  { model: { bundle: TINY, intraOpThreads: 1 }, inference: { batchSize: 4 }, cameras: [{ id: 'gige1', source }] },
  'aravis station',
);
try {
  const station = await Station.start(config, { logger: quiet, deferCameras: true, maxFramesPerCamera: frames });
  station.verdicts$.subscribe((v) => {
    // frameId as the line reads it on …/result.
    const { frameId } = JSON.parse(resultPayload(v, 0, false)) as { frameId: unknown };
    const line = { seq: v.seq, verdict: v.verdict, code: v.reasons[0]?.code ?? null, meta: v.meta ?? {}, frameId };
    process.stdout.write(`${JSON.stringify({ verdict: line })}\n`);
  });
  station.begin();
  await station.ended();
  await station.stop();
  process.stdout.write(`${JSON.stringify({ counters: station.counters(), losses: station.health().cameras[0]?.losses ?? null })}\n`);
  process.exit(0);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ error: String(err) })}\n`);
  process.exit(1);
}
