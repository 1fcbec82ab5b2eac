import type { FrameSource } from '../source.js';
import { FolderSource } from './folder.js';
import { createGstreamerSource } from './gstreamer/index.js';
import type { SourceConfig } from './schema.js';
import { SyntheticSource } from './synthetic.js';

/** What a source may get from the pipeline it feeds. */
export interface SourceDeps {
  /**
   * The pipeline's room signal. Sources that can wait (folder, synthetic at fps 0) emit only when
   * it resolves, so they are inspected losslessly; cameras ignore it.
   */
  readonly ready?: () => Promise<void>;
}

/**
 * The one place that turns a source configuration into a FrameSource. Each source kind adds its
 * case here (the GStreamer work adds its own).
 */
export function createSource(cameraId: string, config: SourceConfig, deps: SourceDeps = {}): FrameSource {
  switch (config.type) {
    case 'folder':
      return new FolderSource(cameraId, config, deps.ready);
    case 'synthetic':
      return new SyntheticSource(cameraId, config, deps.ready);
    case 'gstreamer':
      // Parses the pipeline now: a description GStreamer refuses fails here, before anything starts.
      return createGstreamerSource(config, cameraId, deps.ready === undefined ? {} : { ready: deps.ready });
  }
}
