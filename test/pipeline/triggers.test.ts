import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { Subject, firstValueFrom, toArray } from 'rxjs';
import { LinewatchError } from '../../src/errors.js';
import type { Frame } from '../../src/pipeline/frame.js';
import { TriggerMatcher, attachTriggers, type MatchOutput, type Trigger } from '../../src/pipeline/triggers.js';
import { parseTrigger, subscribeTriggers } from '../../src/io/mqtt/trigger-subscriber.js';
import { startMosquitto } from '../io/mqtt/helpers/mosquitto.js';

let seq = 0;
function frameAt(wallMs: number): Frame {
  return {
    seq: seq++,
    cameraId: 'cam1',
    capturedAt: { monoNs: 0n, wallMs },
    image: { kind: 'raw', format: 'GRAY8', width: 1, height: 1, data: Buffer.alloc(1) },
    meta: {},
  };
}

function describe(outs: MatchOutput[]): string[] {
  return outs.map((o) =>
    o.kind === 'orphan' ? `orphan ${o.trigger.partId}` : `frame@${o.frame.capturedAt.wallMs} ${o.trigger?.partId ?? '-'}`,
  );
}

test('matcher: in order, late trigger, frame without trigger, orphan trigger — never paired wrong', () => {
  const m = new TriggerMatcher({ timeoutMs: 500, skewMs: 20 });
  const log: string[] = [];
  // Trigger first, then its frame.
  log.push(...describe(m.trigger({ partId: 'A', at: 1000, encoderPos: 10 }, 1000)));
  log.push(...describe(m.frame(frameAt(1010), 1010)));
  // The frame first; its trigger arrives late over MQTT but was fired before the capture.
  log.push(...describe(m.frame(frameAt(2000), 2000)));
  log.push(...describe(m.trigger({ partId: 'B', at: 1995 }, 2050)));
  // A frame the PLC never announced: the next trigger was fired after it was taken.
  log.push(...describe(m.frame(frameAt(3000), 3000)));
  log.push(...describe(m.trigger({ partId: 'C', at: 3300 }, 3300)));
  log.push(...describe(m.frame(frameAt(3305), 3305)));
  // A trigger the camera missed; the next frame belongs to the next trigger, not to it.
  log.push(...describe(m.trigger({ partId: 'D', at: 5000 }, 5000)));
  log.push(...describe(m.trigger({ partId: 'E', at: 5590 }, 5590)));
  log.push(...describe(m.frame(frameAt(5600), 5600)));
  // A trigger with no frame at all expires after the timeout.
  log.push(...describe(m.trigger({ partId: 'F', at: 7000 }, 7000)));
  assert.deepEqual(m.tick(7499), []);
  log.push(...describe(m.tick(7500)));
  // A lone frame goes on without a trigger after the timeout.
  log.push(...describe(m.frame(frameAt(8000), 8000)));
  log.push(...describe(m.tick(8500)));
  assert.deepEqual(log, [
    'frame@1010 A',
    'frame@2000 B',
    'frame@3000 -',
    'frame@3305 C',
    'orphan D',
    'frame@5600 E',
    'orphan F',
    'frame@8000 -',
  ]);
  assert.deepEqual(m.counts, { matched: 4, unmatchedFrames: 2, orphanTriggers: 2 });
});

test('parseTrigger: partId required, at as ms or ISO time, malformed payloads refused with LW_ERR_TRIGGER_INVALID', () => {
  assert.deepEqual(parseTrigger('{"partId":"A-1","encoderPos":120}', 1000), { partId: 'A-1', encoderPos: 120, at: 1000 });
  assert.deepEqual(parseTrigger('{"partId":42,"at":"2026-11-22T16:00:00.500Z"}', 0), { partId: '42', at: Date.parse('2026-11-22T16:00:00.500Z') });
  const bad = (p: string): void =>
    assert.throws(() => parseTrigger(p, 0), (e: unknown) => e instanceof LinewatchError && e.code === 'LW_ERR_TRIGGER_INVALID');
  bad('not json');
  bad('{"encoderPos":1}');
  bad('{"partId":"x","encoderPos":"12"}');
  bad('{"partId":"x","extra":1}');
});

test('triggers over real MQTT are attached to their frames in order; a malformed one is reported and skipped', async () => {
  const broker = await startMosquitto();
  const topic = 'linewatch/s/l/st/trigger';
  const reader = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  const plc = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  try {
    const invalid: LinewatchError[] = [];
    const orphans: Trigger[] = [];
    const unmatched: Frame[] = [];
    const triggers$ = subscribeTriggers(reader, topic, { onInvalid: (e) => invalid.push(e) });
    const frames$ = new Subject<Frame>();
    // The broker's SUBACK, not a fixed wait: a loaded machine may take longer than any sleep to
    // register the subscription, and a trigger published before it would be lost.
    const subscribed = new Promise<void>((resolve) => reader.on('packetreceive', (p) => p.cmd === 'suback' && resolve()));
    // timeoutMs: long enough that the triggers, which come over the broker after their frames, are
    // never later than a frame waits for them on a loaded machine (the end of the stream flushes).
    const out = firstValueFrom(
      frames$.pipe(
        attachTriggers(triggers$, { timeoutMs: 10_000, onOrphanTrigger: (t) => orphans.push(t), onUnmatchedFrame: (f) => unmatched.push(f) }),
        toArray(),
      ),
    );
    await subscribed;
    // Counted after the trigger subscriber's own listener has taken each message.
    let arrived = 0;
    reader.on('message', (t) => t === topic && arrived++);
    const t0 = Date.now();
    await plc.publishAsync(topic, JSON.stringify({ partId: 'P1', encoderPos: 100, at: t0 }), { qos: 1 });
    await plc.publishAsync(topic, '{"oops"', { qos: 1 });
    await plc.publishAsync(topic, JSON.stringify({ partId: 'P2', encoderPos: 200, at: t0 + 5 }), { qos: 1 });
    frames$.next(frameAt(t0 + 2));
    frames$.next(frameAt(t0 + 7));
    frames$.next(frameAt(t0 + 1000)); // no trigger for this one
    // All three messages taken (not a fixed wait): then the end of the stream lets the last frame go unmatched.
    for (const until = Date.now() + 20_000; arrived < 3; ) {
      if (Date.now() > until) throw new Error(`${arrived} of 3 trigger messages arrived`);
      await new Promise((r) => setTimeout(r, 10));
    }
    frames$.complete();
    const frames = await out;
    assert.deepEqual(
      frames.map((f) => [f.meta.partId, f.meta.encoderPos]),
      [
        ['P1', 100],
        ['P2', 200],
        [undefined, undefined],
      ],
    );
    assert.equal(unmatched.length, 1);
    assert.equal(orphans.length, 0);
    assert.equal(invalid.length, 1);
    assert.match(invalid[0]!.message, /not JSON/);
  } finally {
    await reader.endAsync();
    await plc.endAsync();
    await broker.stop();
  }
});
