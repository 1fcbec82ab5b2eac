import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { LinewatchError, errorMessage } from '../errors.js';
import { resolveMqttPaths } from '../io/mqtt/schema.js';
import { KEY_PART_SEPARATOR, didYouMeanErrorMap } from './did-you-mean.js';
import { forbiddenKeyPaths } from './remote/guard.js';
import { configSchema, type Config } from './schema.js';

/**
 * YAML → validated configuration, or a LinewatchError that lists every problem path by path.
 * Nothing half-valid is ever returned.
 */

/** A zod path as written in a configuration: `cameras[0].source.path`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.length > 0 ? path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[') : '(root)';
}

/**
 * zod issues as lines `  path.to.field: message` (root problems as `(root)`); an unknown key gets
 * its own line at its own path (`  mqtt.reject.deadlinMs: unknown key (did you mean "deadlineMs"?)`).
 */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  const lines: string[] = [];
  for (const i of issues) {
    if (i.code === 'unrecognized_keys') {
      const parts = i.message.split(KEY_PART_SEPARATOR);
      i.keys.forEach((key, k) => {
        const part = parts.length === i.keys.length ? parts[k]!.slice(parts[k]!.indexOf(': ') + 2) : 'unknown key';
        lines.push(`  ${formatPath([...i.path, key])}: ${part}`);
      });
      continue;
    }
    lines.push(`  ${formatPath(i.path)}: ${i.message}`);
  }
  return lines;
}

/**
 * Validates a parsed object (a file's content or a remote payload).
 *
 * @param origin named in the error (file path, "config/set payload")
 * @throws LinewatchError LW_ERR_CONFIG_INVALID with one line per problem
 */
export function parseConfig(raw: unknown, origin: string): Config {
  // zod never copies these onto what it returns (it drops them); they are refused all the same.
  const forbidden = forbiddenKeyPaths(raw).map((p) => `  ${p}: forbidden key (__proto__, constructor and prototype are never configuration)`);
  const parsed = configSchema.safeParse(raw, { error: didYouMeanErrorMap });
  if (!parsed.success || forbidden.length > 0) {
    const lines = [...forbidden, ...(parsed.success ? [] : formatIssues(parsed.error.issues))];
    throw new LinewatchError('LW_ERR_CONFIG_INVALID', `${origin} is not a valid linewatch configuration:\n${lines.join('\n')}`, {
      ...(parsed.success ? {} : { cause: parsed.error }),
    });
  }
  return parsed.data;
}

/** Relative paths in the configuration are relative to the file's folder (as compose files do). */
export function resolvePaths(config: Config, baseDir: string): Config {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  return {
    ...config,
    model: { ...config.model, bundle: abs(config.model.bundle) },
    cameras: config.cameras.map((c) => ({ ...c, source: resolveSourcePaths(c.source, abs) })),
    products: Object.fromEntries(
      Object.entries(config.products).map(([name, p]) => [name, 'pool' in p ? { pool: typeof p.pool === 'string' ? abs(p.pool) : p.pool.map(abs) } : { prompt: abs(p.prompt) }]),
    ),
    sinks: { ...config.sinks, ngImages: { ...config.sinks.ngImages, dir: abs(config.sinks.ngImages.dir) } },
    mqtt: resolveMqttPaths(config.mqtt, abs),
  };
}

type SourceConfig = Config['cameras'][number]['source'];

/** File paths inside a source (folder, GStreamer video file, multifilesrc pattern) resolve like every other path. */
function resolveSourcePaths(source: SourceConfig, abs: (p: string) => string): SourceConfig {
  if (source.type === 'folder') return { ...source, path: abs(source.path) };
  if (source.type !== 'gstreamer') return source;
  const input = source.input;
  if (input.preset === 'video') return { ...source, input: { ...input, path: abs(input.path) } };
  if (input.preset === 'images') return { ...source, input: { ...input, location: abs(input.location) } };
  return source;
}

/** Parses YAML text; syntax errors name the line and column. */
export function parseYaml(text: string, origin: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => `  ${e.message.split('\n')[0]}`);
    throw new LinewatchError('LW_ERR_CONFIG_READ', `${origin} is not valid YAML:\n${lines.join('\n')}`, { cause: doc.errors[0] });
  }
  return doc.toJS();
}

/**
 * Reads, parses and validates a configuration file.
 *
 * @example
 * const config = await loadConfig('configs/demo.yaml');
 */
export async function loadConfig(path: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new LinewatchError('LW_ERR_CONFIG_READ', `configuration ${path} cannot be read: ${errorMessage(err)}`, { cause: err });
  }
  return resolvePaths(parseConfig(parseYaml(text, path), path), dirname(resolve(path)));
}
