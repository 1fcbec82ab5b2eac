import { readFileSync } from 'node:fs';
import { LinewatchError, errorMessage } from '../../errors.js';
import type { MqttConfig } from './schema.js';

/** What the MQTT client needs from the files and environment the configuration names. Never logged. */
export interface BrokerCredentials {
  readonly username?: string;
  readonly password?: Buffer;
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly rejectUnauthorized: boolean;
}

function readNamedFile(what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new LinewatchError('LW_ERR_MQTT_CREDENTIALS', `mqtt ${what} file ${path} cannot be read: ${errorMessage(err)}`, { cause: err });
  }
}

/** Reads the secrets named by the `mqtt` section. Throws LW_ERR_MQTT_CREDENTIALS naming the file or variable. */
export function loadCredentials(cfg: MqttConfig, env: NodeJS.ProcessEnv = process.env): BrokerCredentials {
  let password: Buffer | undefined;
  if (cfg.password?.file !== undefined) {
    password = Buffer.from(readNamedFile('password', cfg.password.file).toString('utf8').replace(/\r?\n$/, ''), 'utf8');
  } else if (cfg.password?.env !== undefined) {
    const v = env[cfg.password.env];
    if (v === undefined || v === '') {
      throw new LinewatchError('LW_ERR_MQTT_CREDENTIALS', `mqtt password: environment variable ${cfg.password.env} is not set`);
    }
    password = Buffer.from(v, 'utf8');
  }
  const tls = cfg.tls;
  return {
    ...(cfg.username !== undefined ? { username: cfg.username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(tls?.caFile !== undefined ? { ca: readNamedFile('CA', tls.caFile) } : {}),
    ...(tls?.certFile !== undefined ? { cert: readNamedFile('client certificate', tls.certFile) } : {}),
    ...(tls?.keyFile !== undefined ? { key: readNamedFile('client key', tls.keyFile) } : {}),
    rejectUnauthorized: tls?.rejectUnauthorized ?? true,
  };
}
