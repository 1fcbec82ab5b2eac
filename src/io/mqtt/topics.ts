import type { MqttConfig } from './schema.js';

/** Every topic linewatch publishes or subscribes, derived once from the configuration. */
export interface Topics {
  readonly root: string;
  readonly reject: string;
  readonly result: string;
  readonly heatmap: string;
  readonly status: string;
  readonly configSet: string;
  readonly configAck: string;
  readonly configState: string;
  /** PLC triggers in (partId, encoder count), see src/io/mqtt/trigger-subscriber.ts. */
  readonly trigger: string;
}

/**
 * @example
 * topicsFor({ site: 'plant1', line: 'l2', station: 'cam-a' }).reject // 'linewatch/plant1/l2/cam-a/reject'
 */
export function topicsFor(cfg: Pick<MqttConfig, 'site' | 'line' | 'station' | 'topicRoot'>): Topics {
  const root = cfg.topicRoot ?? `linewatch/${cfg.site}/${cfg.line}/${cfg.station}`;
  return {
    root,
    reject: `${root}/reject`,
    result: `${root}/result`,
    heatmap: `${root}/heatmap`,
    status: `${root}/status`,
    configSet: `${root}/config/set`,
    configAck: `${root}/config/ack`,
    configState: `${root}/config/state`,
    trigger: `${root}/trigger`,
  };
}
