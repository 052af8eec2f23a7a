/**
 * Keys for SMART Backend Services: made here (`fhir-engage keys generate`),
 * the private half in a file only its owner can read, the public half
 * published as a JWKS (`/.well-known/jwks.json`), the URL that Epic and
 * Oracle Health registrations ask for.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { exportJWK, exportPKCS8, generateKeyPair, type JWK } from 'jose';
import type { SourceConfig } from '../config/types';

export type KeyAlgorithm = 'RS384' | 'ES384';

/** A new key pair: the private key as PKCS#8 PEM, the public key as a JWK with its kid. */
export async function generateSigningKey(
  alg: KeyAlgorithm,
  kid: string,
): Promise<{ privatePem: string; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'RS384' ? { modulusLength: 3072 } : {}),
  });
  return {
    privatePem: await exportPKCS8(privateKey),
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig', key_ops: ['verify'] },
  };
}

/** The public JWK of a private key file (PEM or JWK), with its kid and algorithm. */
export async function publicJwkOf(file: string, kid: string, alg: KeyAlgorithm): Promise<JWK> {
  const text = readFileSync(file, 'utf8');
  let key: KeyObject;
  if (text.trim().startsWith('{')) {
    const jwk = JSON.parse(text) as JWK;
    key = createPublicKey({ key: jwk as never, format: 'jwk' });
  } else {
    key = createPublicKey(text);
  }
  return { ...(await exportJWK(key)), kid, alg, use: 'sig', key_ops: ['verify'] };
}

/**
 * The keys to publish: every smart-backend source's key (kid = its keyId) and every `<kid>.pem` in
 * the keys directory (new keys made ahead of a rotation), once per kid.
 */
export async function publishedKeys(sources: SourceConfig[], keysDir: string | undefined): Promise<{ keys: JWK[] }> {
  const byKid = new Map<string, JWK>();
  for (const s of sources) {
    if (s.auth.type !== 'smart-backend') continue;
    const kid = s.auth.keyId ?? `${s.id}-key`;
    if (!byKid.has(kid)) byKid.set(kid, await publicJwkOf(s.auth.keyFile, kid, s.auth.algorithm));
  }
  let files: string[];
  try {
    files = keysDir
      ? readdirSync(keysDir)
          .filter((f) => f.endsWith('.pem'))
          .sort()
      : [];
  } catch {
    // No keys directory: only the sources' keys are published.
    files = [];
  }
  for (const f of files) {
    const kid = f.replace(/\.pem$/, '');
    if (byKid.has(kid)) continue;
    const text = readFileSync(path.join(keysDir as string, f), 'utf8');
    const alg: KeyAlgorithm = createPublicKey(text).asymmetricKeyType === 'ec' ? 'ES384' : 'RS384';
    byKid.set(kid, await publicJwkOf(path.join(keysDir as string, f), kid, alg));
  }
  return { keys: [...byKid.values()] };
}
