/**
 * One registry of coded errors. Codes are stable strings (`LW_ERR_*`), never reused, and each is
 * documented in docs/errors.md (test/errors.test.ts checks both directions).
 *
 * @example
 * throw new LinewatchError('LW_ERR_BUNDLE_SHA256', `model.onnx in ${dir}: sha256 ${got} ≠ manifest ${want}`);
 */
export const ERROR_CODES = {
  LW_ERR_CONFIG_INVALID: 'configuration does not match the schema',
  LW_ERR_CONFIG_READ: 'configuration file cannot be read or parsed',
  LW_ERR_BUNDLE_MISSING_FILE: 'a model bundle file is missing',
  LW_ERR_BUNDLE_MANIFEST: 'model.json does not match the manifest schema',
  LW_ERR_BUNDLE_SHA256: 'the ONNX file does not match the manifest sha256',
  LW_ERR_BUNDLE_IO_MISMATCH: "the ONNX graph's inputs or outputs do not match the manifest",
  LW_ERR_MODEL_ARCHITECTURE: "a bundle's architecture has no adapter in this runtime",
  LW_ERR_MODEL_NEEDS_UNMET: 'the model needs an input besides the frame (e.g. a prompt image per product) that cannot be given',
  LW_ERR_SESSION_CREATE: 'the ONNX Runtime session could not be created',
  LW_ERR_SESSION_RUN: 'inference failed',
  LW_ERR_FRAME_DECODE: 'a frame could not be decoded',
  LW_ERR_FRAME_INVALID: 'a frame has an impossible shape or format',
  LW_ERR_EVAL_INPUT: 'evaluation input (scores, labels, maps or masks) is invalid',
  LW_ERR_DATASET_LAYOUT: 'an evaluation data folder does not follow the MVTec AD layout',
  LW_ERR_CALIBRATION_TARGET: 'a calibration target cannot be met or is out of range',
  LW_ERR_MANIFEST_WRITE: 'model.json could not be rewritten',
  LW_ERR_MQTT_CREDENTIALS: 'an MQTT password, certificate or key named by the configuration cannot be read',
  LW_ERR_MQTT_EMBEDDED_BROKER: 'the embedded demo broker could not start',
  LW_ERR_CONFIG_PERSIST: 'an accepted configuration could not be written to the state directory',
  LW_ERR_CONFIG_REMOTE_REFUSED: 'a remote configuration update was refused',
  LW_ERR_SOURCE_OPEN: 'a frame source cannot be opened (missing folder, no images, bad settings)',
  LW_ERR_CONFIG_APPLY: 'a configuration change could not be applied; the running one stays',
  LW_ERR_SOURCE_PIPELINE: 'a GStreamer pipeline description does not parse or has no usable appsink',
  LW_ERR_SOURCE_STREAM: 'a GStreamer stream failed in a way that retrying cannot fix (e.g. a corrupt video file)',
  LW_ERR_BINDING: "the GStreamer binding (gstreamer-superficial) was built without linewatch's patch",
  LW_ERR_TRIGGER_INVALID: 'a trigger message is malformed',
  LW_ERR_TILER_GEOMETRY: 'line-scan tiling settings are impossible (tile larger than the strip, overlap not smaller than the tile)',
  LW_ERR_FRAME_TOO_LARGE: "a frame has more pixels than its camera's maxFramePixels; refused from its header, never decoded",
  LW_ERR_PRODUCT_PROMPT: "a product's prompt image is missing, unreadable or cannot be decoded",
  LW_ERR_PRODUCT_INVALID: 'a message on <root>/<camera>/product is malformed (not a product name)',
  LW_ERR_PRODUCT_UNKNOWN: "a frame's product has no recipe (no prompt) in the configuration, or its camera runs no product",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class LinewatchError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LinewatchError';
    this.code = code;
  }
}

/** Message of anything thrown, for reasons and logs. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
