import { createPublicKey, verify, type KeyObject } from 'node:crypto';

// DER prefix of an Ed25519 SubjectPublicKeyInfo; followed by the 32 raw key bytes.
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** A PEM public key, or base64 of the 32 raw Ed25519 bytes. Throws when it is neither. */
export function parseEd25519PublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  const key = trimmed.startsWith('-----BEGIN')
    ? createPublicKey(trimmed)
    : createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, rawKeyBytes(trimmed)]), format: 'der', type: 'spki' });
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`not an Ed25519 key (${key.asymmetricKeyType ?? 'unknown'})`);
  return key;
}

function rawKeyBytes(b64: string): Buffer {
  const raw = Buffer.from(b64, 'base64');
  if (raw.length !== 32) throw new Error(`raw Ed25519 key must be 32 bytes, got ${raw.length}`);
  return raw;
}

/**
 * Which key signed `body` (the exact bytes of the update's body string), or null when none of
 * `keys` verifies `signatureB64`. With `keyId`, only that key is tried.
 */
export function verifyEd25519(
  body: Buffer,
  signatureB64: string,
  keys: ReadonlyMap<string, KeyObject>,
  keyId?: string,
): string | null {
  const sig = Buffer.from(signatureB64, 'base64');
  if (sig.length !== 64) return null;
  for (const [id, key] of keys) {
    if (keyId !== undefined && id !== keyId) continue;
    if (verify(null, body, key, sig)) return id;
  }
  return null;
}
