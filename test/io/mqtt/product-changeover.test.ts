/**
 * Changeover from the PLC over a real mosquitto, on the tiny OneNIP with real sessions: the
 * retained `<root>/<camera>/product` (set before linewatch starts, then changed) decides which
 * prompt each frame is judged with; `…/result` and `…/reject` name the product; an unknown one
 * makes error verdicts and `…/status` says so; a remote update whose prompt file is missing is
 * refused on `…/config/ack`, the running configuration staying, and so is one naming a pool
 * (this bundle's selection is recipe).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../../src/config/load.js';
import { Daemon } from '../../../src/daemon.js';
import { identityHolds } from '../../../src/pipeline/counters.js';
import { conforms, docSchemas } from './helpers/doc-schemas.js';
import { startMosquitto } from './helpers/mosquitto.js';
import { observe } from './helpers/observer.js';
import { quietLogger } from './helpers/subject-station.js';

const ONENIP = fileURLToPath(new URL('../../../../test/fixtures/models/tiny-onenip/', import.meta.url));
const sample = (name: string): string => join(ONENIP, 'samples', `${name}.png`);

interface Result { seq: number; product: string | null; verdict: string; score: number | null; reasons: { code: string; message: string }[]; configVersion: string }
interface Reject { seq: number; product: string | null; reasons: { code: string }[] }
interface Status { cameras: { id: string; product: { name: string; by: string; known: boolean } | null }[]; health: { state: string; reasons: string[] } }
interface Ack { accepted: boolean; reasons: string[]; requestId: string | null }

function devNull(): Writable {
  return new Writable({ write: (_c, _e, cb) => cb() });
}

test('the PLC changes a camera\'s product with the retained <root>/<camera>/product: verdicts, results and rejects follow it; an unknown product is error verdicts and status says so; a remote update with a missing prompt is refused whole', async () => {
  const broker = await startMosquitto();
  const root = mkdtempSync(join(tmpdir(), 'lw-product-mqtt-'));
  const frames = join(root, 'frames');
  const topic = 'linewatch/p/l/st1';
  let daemon: Daemon | null = null;
  const obs = await observe(broker.url, [`${topic}/result`, `${topic}/reject`, `${topic}/status`, `${topic}/config/ack`]);
  try {
    // One good part of product a, looped.
    mkdirSync(frames);
    copyFileSync(sample('good-a'), join(frames, 'good-a.png'));
    const config = parseConfig(
      {
        model: { bundle: ONENIP, intraOpThreads: 1 },
        products: { a: { prompt: sample('prompt-a') }, b: { prompt: sample('prompt-b') } },
        cameras: [{ id: 'cam1', source: { type: 'folder', path: frames, loop: true, fps: 20 }, product: 'a' }],
        inference: { preprocessWorkers: 0 },
        mqtt: { url: broker.url, site: 'p', line: 'l', station: 'st1', status: { heartbeatMs: 200 }, remoteConfig: { requireSignature: false, stateDir: join(root, 'state'), probationMs: 0 } },
      },
      'product mqtt test',
    );
    // The PLC set the product before linewatch started: the retained message is there at connect.
    await obs.client.publishAsync(`${topic}/cam1/product`, 'b', { qos: 1, retain: true });
    daemon = await Daemon.start(config, { baseDir: root, logger: quietLogger, mqtt: true, out: devNull() });
    await daemon.mqtt!.link.whenOnline(5_000);
    const results = () => obs.json<Result>(`${topic}/result`);
    await obs.until(() => results().filter((r) => r.product === 'b').length >= 3, 'results of product b (the retained message)', 20_000);
    // With prompt b this good part of a is far from its prompt: b's verdicts score high, a's (before the retained message came) low.
    const scoreOf = (p: string) => results().filter((r) => r.product === p && r.score !== null).map((r) => r.score!);
    assert.ok(Math.min(...scoreOf('b')) > 5, JSON.stringify(scoreOf('b')));
    await obs.until(() => obs.json<Status>(`${topic}/status`).some((s) => s.cameras[0]?.product?.name === 'b'), 'status names product b');
    const st = obs.json<Status>(`${topic}/status`).findLast((s) => s.cameras[0]?.product?.name === 'b')!;
    assert.deepEqual(st.cameras[0]!.product, { ...st.cameras[0]!.product!, name: 'b', by: 'mqtt', known: true });

    // JSON payload, to a: the same part now against its own prompt.
    await obs.client.publishAsync(`${topic}/cam1/product`, JSON.stringify({ product: 'a' }), { qos: 1, retain: true });
    const n = results().length;
    await obs.until(() => results().slice(n).filter((r) => r.product === 'a').length >= 3, 'results of product a', 20_000);
    assert.ok(Math.max(...results().slice(n).filter((r) => r.product === 'a').map((r) => r.score!)) < 2, 'good-a against prompt a scores low');

    // An unknown product: error verdicts naming it, rejected by failSafe (so on …/reject too), status says known: false.
    await obs.client.publishAsync(`${topic}/cam1/product`, 'zz', { qos: 1, retain: true });
    await obs.until(() => obs.json<Reject>(`${topic}/reject`).some((r) => r.product === 'zz'), 'a failSafe reject of product zz', 20_000);
    const zz = results().find((r) => r.product === 'zz')!;
    assert.equal(zz.verdict, 'error');
    assert.equal(zz.reasons[0]!.code, 'LW_ERR_PRODUCT_UNKNOWN');
    assert.match(zz.reasons[0]!.message, /product "zz" has no recipe/);
    await obs.until(() => obs.json<Status>(`${topic}/status`).some((s) => s.cameras[0]?.product?.name === 'zz' && !s.cameras[0].product.known && s.health.state === 'degraded'), 'status: zz unknown, degraded');
    // A malformed message is skipped: the camera keeps its product.
    await obs.client.publishAsync(`${topic}/cam1/product`, 'two words', { qos: 1 });
    await obs.client.publishAsync(`${topic}/nocam/product`, 'a', { qos: 1 });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(daemon.station.health().cameras[0]!.product?.product, 'zz');

    // A remote update naming a prompt file that is not there: refused whole, naming the product and the path.
    const missing = join(root, 'recipes', 'c.png');
    const acks = () => obs.json<Ack>(`${topic}/config/ack`);
    await obs.client.publishAsync(`${topic}/config/set`, JSON.stringify({ version: 2, baseVersion: 1, requestId: 'c', patch: { products: { c: { prompt: missing } } } }), { qos: 1 });
    await obs.until(() => acks().some((a) => a.requestId === 'c'), 'the ack', 20_000);
    const ack = acks().find((a) => a.requestId === 'c')!;
    assert.equal(ack.accepted, false);
    assert.ok(ack.reasons.some((r) => r.includes(`products.c.prompt ${missing}`)), JSON.stringify(ack.reasons));
    assert.deepEqual(Object.keys(daemon.station.activeConfig().products), ['a', 'b'], 'the running configuration stays');
    // A pool on this recipe bundle, remotely: refused naming the product, the running products unchanged.
    await obs.client.publishAsync(`${topic}/config/set`, JSON.stringify({ version: 2, baseVersion: 1, requestId: 'p', patch: { products: { c: { pool: [sample('prompt-a'), sample('good-a')] } } } }), { qos: 1 });
    await obs.until(() => acks().some((a) => a.requestId === 'p'), 'the pool ack', 20_000);
    const poolAck = acks().find((a) => a.requestId === 'p')!;
    assert.equal(poolAck.accepted, false);
    assert.ok(poolAck.reasons.some((r) => /products\.c cannot give one: it names a pool, and this bundle's prompt\.selection is recipe/.test(r)), JSON.stringify(poolAck.reasons));
    assert.deepEqual(Object.keys(daemon.station.activeConfig().products), ['a', 'b'], 'the running configuration stays');

    // Cleared by the PLC: back to the configured product.
    await obs.client.publishAsync(`${topic}/cam1/product`, '', { qos: 1, retain: true });
    const m = results().length;
    await obs.until(() => results().slice(m).filter((r) => r.product === 'a' && r.verdict !== 'error').length >= 2, 'results of a again', 20_000);
    assert.equal(daemon.station.health().cameras[0]!.product?.origin, 'config');

    const d = daemon;
    daemon = null;
    await d.stop();
    const c = d.station.counters();
    assert.ok(identityHolds(c) && c.inFlight === 0, JSON.stringify(c));
    const schemas = docSchemas();
    for (const r of obs.json(`${topic}/result`)) conforms(r, schemas.get('linewatch.result/1')!);
    for (const r of obs.json(`${topic}/reject`)) conforms(r, schemas.get('linewatch.reject/1')!);
    for (const s of obs.json(`${topic}/status`)) conforms(s, schemas.get('linewatch.status/1')!);
  } finally {
    if (daemon !== null) await daemon.stop();
    await obs.close();
    await broker.stop();
    rmSync(root, { recursive: true, force: true });
  }
});
