export { Inspector, MapFailure, type ExtrasServer, type FrameContext, type InspectorDeps, type MappedBatch, type PrepareFn } from './inspector.js';
export { createModelSlot, type ModelSlot } from './model-slot.js';
export { assertNeedsMet, type FrameSupplier } from './needs.js';
export type { JudgedFrame, LineScanCropInfo } from './judged.js';
export {
  droppedVerdict,
  errorVerdict,
  framelessVerdict,
  judgedVerdict,
  linesLost,
  lostFrameVerdict,
  segmentVerdict,
  unjudgedVerdict,
  type SegmentLoss,
  type RuleSet,
  type RunTimes,
} from './verdicts.js';
