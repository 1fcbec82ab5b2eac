import { z } from 'zod';
import { configSchema } from './schema.js';

/**
 * The configuration as JSON Schema (draft 2020-12), for editors (YAML language server:
 * `# yaml-language-server: $schema=linewatch.schema.json`). It describes the input side: what a
 * file may say, defaults optional.
 */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...schema, title: 'linewatch configuration' };
}
