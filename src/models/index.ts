export { loadBundle, parseManifest, sha256File, withMapOutput, MANIFEST_FILE, type Bundle } from './bundle.js';
export { InferenceEngine, type EngineOptions, type EngineLogger } from './engine.js';
export type { ModelInput, ModelOutput } from './types.js';
export {
  executionProvidersSchema,
  providerSchema,
  normalizeProvider,
  tensorrtEngineCache,
  PROVIDER_NAMES,
  type ProviderConfig,
  type ProviderSpec,
  type ProviderFallback,
  type ProviderName,
} from './providers.js';
export { graphMismatches, expectedInputs, expectedOutputs, type GraphValue } from './io-check.js';
export { manifestSchema, type Manifest, type ManifestInput, type MapStep } from './manifest.js';
export { inspectBundle, formatInspectReport, INSPECT_DEFAULT_PROVIDERS, type InspectReport } from './inspect.js';
export { registerModelCommands } from './commands.js';
