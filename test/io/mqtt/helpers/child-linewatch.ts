// A linewatch MQTT link in its own process, for the last-will test (the parent SIGKILLs it).
import { configSchema } from '../../../../src/config/schema.js';
import { startMqtt } from '../../../../src/io/mqtt/start.js';
import { SubjectStation, quietLogger, testConfig } from './subject-station.js';

const url = process.argv[2];
const stateDir = process.argv[3];
if (url === undefined || stateDir === undefined) throw new Error('usage: child-linewatch.js URL STATE_DIR');
const config = testConfig(url, { keepaliveS: 2 }, stateDir);
const station = new SubjectStation(config);
const mqtt = await startMqtt(config, station, quietLogger);
await mqtt.link.whenOnline(5_000);
process.stdout.write('online\n');
// Stay alive until killed.
setInterval(() => station.emit(Date.now(), 'ok'), 100);
