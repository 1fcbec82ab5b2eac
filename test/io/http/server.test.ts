import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHttpServer } from '../../../src/io/http/server.js';
import { startMqtt } from '../../../src/io/mqtt/start.js';
import { startMosquitto } from '../mqtt/helpers/mosquitto.js';
import { SubjectStation, quietLogger, testConfig } from '../mqtt/helpers/subject-station.js';

test('/metrics exposes frames, verdicts by kind, latency histograms, outbox depth and broker state; /healthz follows health', async () => {
  const broker = await startMosquitto();
  const config = testConfig(broker.url, { http: { enabled: true, port: 0 } });
  const station = new SubjectStation(config);
  const mqtt = await startMqtt(config, station, quietLogger);
  const http = await startHttpServer({ host: config.mqtt.http.host, port: config.mqtt.http.port, station, link: mqtt.link, publisher: mqtt.publisher, status: mqtt.status });
  try {
    assert.match(http.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    await mqtt.link.whenOnline(5_000);
    station.emit(1, 'ok');
    station.emit(2, 'reject');
    station.emit(3, 'reject');
    station.emit(4, 'error');
    station.batchingSnapshot = { batches: 3, batchedFrames: 4, mixedBatches: 1, runs: 5, images: 4, paddedRuns: 2, paddedImages: 6, splitBatches: 1 };
    const health = await fetch(`${http.url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { health: { state: string } }).health.state, 'ok');

    const text = await (await fetch(`${http.url}/metrics`)).text();
    assert.match(text, /^linewatch_frames_received_total 4$/m);
    assert.match(text, /^linewatch_verdicts_total\{kind="reject"\} 2$/m);
    assert.match(text, /^linewatch_verdicts_total\{kind="error"\} 1$/m);
    assert.match(text, /^linewatch_camera_frames_received_total\{camera="cam1"\} 4$/m);
    assert.match(text, /^linewatch_camera_verdicts_total\{camera="cam1",kind="reject"\} 2$/m);
    assert.match(text, /^linewatch_camera_verdicts_total\{camera="cam1",kind="dropped"\} 0$/m);
    assert.match(text, /^linewatch_batches_mixed_total 1$/m);
    assert.match(text, /^linewatch_model_padded_images_total 6$/m);
    assert.match(text, /^linewatch_model_split_batches_total 1$/m);
    assert.match(text, /^linewatch_latency_ms_count\{stage="total"\} 4$/m);
    assert.match(text, /^linewatch_latency_ms_bucket\{le="5",stage="total"\} 4$/m);
    assert.match(text, /^linewatch_mqtt_state\{state="online"\} 1$/m);
    assert.match(text, /^linewatch_mqtt_outbox_depth \d+$/m);

    // The three rejects acknowledged before the broker goes (on a loaded machine the PUBACKs may
    // still be on their way here): the outbox then holds exactly the one emitted while it is away.
    for (const ackedBy = Date.now() + 10_000; mqtt.link.counters().outbox.depth > 0; ) {
      if (Date.now() > ackedBy) throw new Error(`outbox depth ${mqtt.link.counters().outbox.depth}: rejects never acknowledged`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await broker.kill();
    const until = Date.now() + 3_000;
    while (mqtt.link.state === 'online' && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    station.emit(5, 'reject');
    const degraded = await fetch(`${http.url}/healthz`);
    assert.equal(degraded.status, 503, 'broker away with a reject waiting: degraded');
    const body = (await degraded.json()) as { health: { reasons: string[] } };
    assert.ok(body.health.reasons.some((r) => r.includes('broker away')), JSON.stringify(body));
    const after = await (await fetch(`${http.url}/metrics`)).text();
    assert.match(after, /^linewatch_mqtt_state\{state="online"\} 0$/m);
    assert.match(after, /^linewatch_mqtt_outbox_depth 1$/m);
    assert.equal((await fetch(`${http.url}/nope`)).status, 404);
  } finally {
    await http.close();
    await mqtt.close();
    await broker.stop();
  }
});
