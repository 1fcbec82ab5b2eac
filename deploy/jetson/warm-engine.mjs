#!/usr/bin/env node
// Builds (or finds) the TensorRT engine of the configured model before the service starts, so the
// line's first start takes seconds instead of minutes. It creates one session exactly as linewatch
// will (same provider options, same keyed cache folder: model sha256, TensorRT version, options),
// then prints whether the engine was built or reused and how long it took.
//
//   node deploy/jetson/warm-engine.mjs --config /etc/linewatch/config.yaml
//
// Run it as the service user (install.sh --warm-engine does), with LINEWATCH_TENSORRT_VERSION as
// in /etc/default/linewatch, or the keys will differ and the service builds again.
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { loadConfig } from '../../dist/src/config/load.js';
import { loadBundle } from '../../dist/src/models/bundle.js';
import { normalizeProvider, toOrtProvider } from '../../dist/src/models/providers.js';
import { engineCacheDir, engineCacheState, tensorrtVersionFromEnv } from '../../dist/src/models/tensorrt-options.js';

const { values } = parseArgs({ options: { config: { type: 'string' } } });
if (!values.config) {
  console.error('warm-engine: --config FILE is required');
  process.exit(2);
}

try {
  const config = await loadConfig(values.config);
  const spec = config.model.executionProviders.map(normalizeProvider).find((p) => p.name === 'tensorrt');
  if (!spec || spec.name !== 'tensorrt') {
    console.error(`warm-engine: ${values.config} does not list tensorrt in model.executionProviders: nothing to build`);
    process.exit(0);
  }
  const bundle = await loadBundle(config.model.bundle);
  const id = { modelSha256: bundle.manifest.sha256, tensorrtVersion: tensorrtVersionFromEnv() };
  const dir = engineCacheDir(spec.options, id);
  const before = engineCacheState(dir);
  console.error(`warm-engine: ${bundle.manifest.version}, TensorRT ${id.tensorrtVersion}, cache ${dir ?? 'off'}: ${before.state}`);
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(bundle.onnxPath, {
    executionProviders: [toOrtProvider(spec, bundle.manifest.sha256)],
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await session.release();
  const after = engineCacheState(dir);
  console.error(`warm-engine: session ready in ${seconds.toFixed(1)} s; engine cache: ${after.state}`);
  if (dir !== null && after.state !== 'cached') {
    console.error('warm-engine: no engine was written: is this the TensorRT build of onnxruntime-node (check-onnxruntime.sh)?');
    process.exit(1);
  }
} catch (err) {
  console.error(`warm-engine: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
