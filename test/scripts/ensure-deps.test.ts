/**
 * scripts/ensure-deps.sh and bin/trainer: set-up on a machine where something else is installing,
 * and the trainer from the repository root.
 *
 * The lock test holds real locks (flock(2) through flock(1), and a POSIX fcntl lock as dpkg takes
 * them) on a file of its own — never the machine's dpkg lock, which other jobs may need — and
 * checks that the script's wait says who holds it, waits, and goes on only once it is released.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstMissing, missingCommand, requireTool, skipUnlessTool } from '../helpers/tools.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

function bash(script: string, env: Record<string, string> = {}) {
  return spawnSync('bash', ['-c', script], { cwd: root, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
}

/**
 * Starts `argv`, which takes a lock, prints "held" and keeps it until its stdin closes; resolves
 * once the lock is taken.
 */
function holdLock(argv: readonly string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (s: string) => {
      if (s.includes('held')) resolve(child);
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`lock holder exited (${code}) before taking the lock`)));
  });
}

/**
 * Runs wait_for_apt_locks against `lock`; the holder is told to let go (its stdin closed) only
 * after the script said it waits. `released`: the holder had exited when the script returned.
 */
async function waitsFor(lock: string, holder: ChildProcess): Promise<{ status: number | null; stderr: string; released: boolean }> {
  let released = false;
  const script = spawn('bash', ['-c', '. scripts/lib/apt-lock.sh; wait_for_apt_locks'], {
    cwd: root,
    env: { ...process.env, LINEWATCH_APT_LOCKS: `/nonexistent/lock:${lock}` },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  script.stderr?.setEncoding('utf8');
  script.stderr?.on('data', (s: string) => {
    stderr += s;
    if (stderr.includes('waiting for the package manager') && !released) {
      released = true;
      holder.stdin?.end();
    }
  });
  const status = await new Promise<number | null>((resolve) => script.on('exit', (code) => resolve(code)));
  const holderGone = holder.exitCode !== null || holder.signalCode !== null;
  return { status, stderr, released: released && holderGone };
}

const lockTools = firstMissing(() => missingCommand('lslocks', 'util-linux'), () => missingCommand('flock', 'util-linux'), () => missingCommand('python3', 'python3'));

test('ensure-deps waits while another program holds the package lock, says so, and goes on when it is free', { skip: skipUnlessTool(lockTools) }, async () => {
  requireTool(lockTools);
  const dir = mkdtempSync(join(tmpdir(), 'lw-aptlock-'));
  try {
    const lock = join(dir, 'lock-frontend');
    writeFileSync(lock, '');
    // flock(1), as a shell script would hold it: it lets go when its `read` gets a line.
    const byFlock = await holdLock(['flock', lock, 'bash', '-c', 'echo held; read -r _ || true']);
    const a = await waitsFor(lock, byFlock);
    assert.equal(a.status, 0, a.stderr);
    assert.match(a.stderr, new RegExp(`waiting for the package manager: ${lock} is held by process ${byFlock.pid} \\(flock\\)`));
    assert.match(a.stderr, /the package manager is free; installing/);
    assert.ok(a.released, 'the wait ended only after the holder let go');

    // A POSIX record lock, as dpkg and apt take theirs.
    const byFcntl = await holdLock(['python3', '-c', `import fcntl,sys\nf=open(${JSON.stringify(lock)},'w')\nfcntl.lockf(f,fcntl.LOCK_EX)\nprint('held',flush=True)\nsys.stdin.read()`]);
    const b = await waitsFor(lock, byFcntl);
    assert.equal(b.status, 0, b.stderr);
    assert.match(b.stderr, new RegExp(`${lock} is held by process ${byFcntl.pid} \\(python3\\)`));
    assert.ok(b.released);

    // Nobody holds it: no message, no wait.
    const free = bash('. scripts/lib/apt-lock.sh; wait_for_apt_locks', { LINEWATCH_APT_LOCKS: lock });
    assert.equal(free.status, 0);
    assert.equal(free.stderr, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a lock held past the timeout fails naming the file and the holder', { skip: skipUnlessTool(lockTools) }, async () => {
  requireTool(lockTools);
  const dir = mkdtempSync(join(tmpdir(), 'lw-aptlock-'));
  const lock = join(dir, 'lock');
  writeFileSync(lock, '');
  const holder = await holdLock(['flock', lock, 'bash', '-c', 'echo held; read -r _ || true']);
  try {
    const r = bash('. scripts/lib/apt-lock.sh; wait_for_apt_locks', { LINEWATCH_APT_LOCKS: lock, LINEWATCH_APT_LOCK_TIMEOUT_S: '2' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`gave up after 2 s: ${lock} is still held by process ${holder.pid} \\(flock\\)`));
  } finally {
    holder.stdin?.end();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the runtime set-up installs mosquitto-clients (npm start prints a mosquitto_sub command)', () => {
  const r = bash('bash scripts/ensure-deps.sh --list runtime');
  assert.equal(r.status, 0, r.stderr);
  const runtime = r.stdout.trim().split('\n');
  assert.ok(runtime.includes('mosquitto-clients'), runtime.join(' '));
  assert.ok(!runtime.includes('python3-torch'), 'npm start needs neither Python nor PyTorch');
  const trainer = bash('bash scripts/ensure-deps.sh --list trainer').stdout.trim().split('\n');
  const all = bash('bash scripts/ensure-deps.sh --list test').stdout.trim().split('\n');
  for (const d of [...runtime, ...trainer]) assert.ok(all.includes(d), `test mode lacks ${d}`);
  assert.equal(bash('bash scripts/ensure-deps.sh nonsense').status, 2);
});

const shellcheck = missingCommand('shellcheck', 'shellcheck');
test('the set-up scripts pass shellcheck', { skip: skipUnlessTool(shellcheck) }, () => {
  requireTool(shellcheck);
  const r = spawnSync('shellcheck', ['--severity=style', '--shell=bash', '--external-sources', 'scripts/ensure-deps.sh', 'scripts/lib/apt-lock.sh', 'scripts/build-gst-plugin.sh', 'bin/trainer'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});

test('bin/trainer runs the trainer from the repository root and from elsewhere, with paths from where it is called', { skip: existsSync(join(root, 'trainer/.venv/bin/python')) ? false : 'trainer/.venv is missing: bash trainer/scripts/ensure-venv.sh' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-bintrainer-'));
  try {
    const help = bash('bin/trainer --help');
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /usage: bin\/trainer .*command/);
    const synth = spawnSync(join(root, 'bin/trainer'), ['synth', '--out', 'set', '--seed', '1', '--size', '32', '--n-train', '1', '--n-test-good', '1', '--n-per-defect', '1'], {
      cwd: dir, encoding: 'utf8', timeout: 120_000,
      // as under `npm test`: npm exports INIT_CWD (the repository root) to every child
      env: { ...process.env, INIT_CWD: root, npm_lifecycle_event: 'test' },
    });
    assert.equal(synth.status, 0, synth.stderr);
    assert.ok(existsSync(join(dir, 'set/train/good/000.png')), 'the relative --out is the caller\'s, not the repository\'s');
    const viaNpm = spawnSync('npm', ['run', '-s', 'trainer', '--', 'synth', '--help'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    assert.equal(viaNpm.status, 0, viaNpm.stderr);
    assert.match(viaNpm.stdout, /usage: bin\/trainer synth/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
