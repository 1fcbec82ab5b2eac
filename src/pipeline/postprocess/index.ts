export { createBilinearPlan, resizeBilinear, type BilinearPlan } from './bilinear.js';
export { createGaussianPlan, gaussianBlur, gaussianKernel1d, type GaussianPadding, type GaussianPlan } from './gaussian.js';
export { createScorer, topkCount, selectDescending, type Scorer, type ScoreRule } from './score.js';
export { normalizeScore, denormalizeScore, type CalibrationRange } from './normalize.js';
export { findRegions, regionToCamera, RegionFinder, type Region } from './regions.js';
export { finishMaps, MapFinisher, type FinishedMaps } from './finish.js';
