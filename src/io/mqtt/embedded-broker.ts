import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { LinewatchError, errorMessage } from '../../errors.js';

/**
 * An in-process MQTT broker (aedes, MQTT 3.1.1) on loopback, so that `npm start` shows the whole
 * flow without a broker installed. Demo only: production and tests use mosquitto.
 */
export interface EmbeddedBroker {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Starts on 127.0.0.1:`port` (0 = any free port). Throws LW_ERR_MQTT_EMBEDDED_BROKER. */
export async function startEmbeddedBroker(port = 0): Promise<EmbeddedBroker> {
  let broker: Aedes;
  let server: Server;
  try {
    broker = await Aedes.createBroker();
    server = createServer(broker.handle);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
  } catch (err) {
    throw new LinewatchError('LW_ERR_MQTT_EMBEDDED_BROKER', `embedded MQTT broker on 127.0.0.1:${port}: ${errorMessage(err)}`, { cause: err });
  }
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  return {
    url: `mqtt://127.0.0.1:${bound}`,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        broker.close(() => server.close(() => resolve()));
        // Connected clients keep the server open; aedes.close() ends them, this is a backstop.
        setTimeout(resolve, 1_000).unref();
      }),
  };
}
