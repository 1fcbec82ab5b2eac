/**
 * The model seam: what the runtime knows about a model family, and nothing more. The inspector
 * (src/pipeline/inspect/) judges every batch through this interface; only the adapter knows how
 * a family's inputs are built and how its outputs become the final map and score.
 */
import type { FinishedMaps } from '../../pipeline/postprocess/finish.js';
import type { PreparedPixels } from '../../pipeline/preprocess/index.js';
import type { ModelInput, ModelOutput } from '../types.js';

/** OneNIP's prompt: one good image of the frame's product, prepared like the frame itself. */
export interface PromptNeed {
  /** The graph input that takes it (manifest `prompt.name`). */
  readonly input: string;
  /** How prompts are chosen (manifest `prompt.selection`): one per product, or the nearest of a pool. */
  readonly selection: 'recipe' | 'cosine-pool';
  /** The bundle's pool folder, relative to the bundle, when it ships one. */
  readonly pool: string | null;
}

/** What a model needs for each frame besides the frame's own pixels. */
export interface ModelNeeds {
  /** null: nothing (INP-Former, anomalib, generic). */
  readonly prompt: PromptNeed | null;
}

/**
 * What one frame brings besides its pixels, served per frame (a batch may hold frames of several
 * cameras and products). Prepared for the model judging the batch (same geometry and dtype).
 */
export interface FrameExtras {
  readonly prompt: PreparedPixels | null;
  /** The prompt's file name, as the verdict names it (which good image the frame was judged against). */
  readonly promptName?: string;
}

export interface ModelAdapter {
  /** manifest.architecture this adapter was chosen for. */
  readonly architecture: string;
  /** How it turns frames into inputs (for `model inspect` and logs): 'single-image' | 'prompted'. */
  readonly kind: string;
  readonly needs: ModelNeeds;
  /** Size of the maps finish() gives. */
  readonly mapHeight: number;
  readonly mapWidth: number;
  /**
   * The engine's input for prepared frames, in batch order. `extras` is null when the model needs
   * nothing, else one entry per frame. A frame's pixels may be handed to the engine as they are
   * (the engine then owns them: read only their geometry afterwards); extras are never handed
   * over (they are shared between frames: a product's prompt is prepared once).
   */
  inputs(prepared: readonly PreparedPixels[], extras: readonly FrameExtras[] | null): ModelInput;
  /**
   * The engine's output → the final maps (n × mapHeight × mapWidth) and raw image scores. The
   * maps may be the output's own buffer or a new array; valid until the caller drops them.
   */
  finish(out: ModelOutput): FinishedMaps;
}

/** Whether the model needs anything per frame besides the frame (then the inspector asks for extras). */
export function needsExtras(needs: ModelNeeds): boolean {
  return needs.prompt !== null;
}

/** The needs in words, for `model inspect` and refusals. */
export function describeNeeds(needs: ModelNeeds): string {
  const p = needs.prompt;
  if (p === null) return 'nothing besides the frame';
  const how = p.selection === 'recipe' ? 'one per product' : `the nearest of a pool of good images${p.pool !== null ? ` (${p.pool})` : ''}`;
  return `a prompt image for each frame: a good image of its product, ${how} (graph input "${p.input}")`;
}
