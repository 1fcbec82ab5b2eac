import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A real mosquitto on a free loopback port, with a generated configuration, for one test file. */
export interface Mosquitto {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** SIGKILL: the broker vanishes like a power cut. */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
  /** Stops it and removes its folder. */
  stop(): Promise<void>;
}

export interface MosquittoOptions {
  /** Extra listener lines (TLS: cafile, certfile, keyfile, require_certificate …). */
  readonly listenerLines?: readonly string[];
  readonly scheme?: 'mqtt' | 'mqtts';
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const until = Date.now() + 5_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited (${child.exitCode}): ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`mosquitto did not listen on ${port}: ${log()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const MOSQUITTO = '/usr/sbin/mosquitto';

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  // Never skipped: every MQTT test needs a real broker, here and under CI=true alike.
  if (!existsSync(MOSQUITTO)) throw new Error(`${MOSQUITTO} is not installed (Debian: mosquitto); the MQTT tests need a real broker`);
  const dir = mkdtempSync(join(tmpdir(), 'lw-mosq-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      'per_listener_settings false',
      'allow_anonymous true',
      'persistence false',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'max_queued_messages 100000',
      `listener ${port} 127.0.0.1`,
      ...(opts.listenerLines ?? []),
      '',
    ].join('\n'),
  );
  let child: ChildProcess;
  let stderr = '';
  const launch = async (): Promise<void> => {
    stderr = '';
    child = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    await waitForPort(port, child, () => stderr);
  };
  const killNow = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  };
  await launch();
  return {
    port,
    url: `${opts.scheme ?? 'mqtt'}://127.0.0.1:${port}`,
    dir,
    kill: () => killNow('SIGKILL'),
    restart: launch,
    stop: async () => {
      await killNow('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
