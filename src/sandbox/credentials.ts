/** Credentials for a sandbox started from the CLI or `npm start`: made fresh, printed once, never stored in the repo. */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import type { SandboxAuth } from './auth';
import type { AuthConfig } from '../config/types';

export type SandboxAuthMode = SandboxAuth['mode'];
export const SANDBOX_AUTH_MODES: SandboxAuthMode[] = ['open', 'bearer', 'client_credentials', 'smart-backend'];

export interface SandboxCredentials {
  server: SandboxAuth;
  /** The matching client side, as a sources-file auth block would give it. */
  client: (tokenUrl: string) => AuthConfig;
  describe: (tokenUrl: string) => string[];
}

/**
 * A Backend Services client registered as with Epic: by its client id and the JWKS URL where its public
 * keys are published (fhir-engage's own /.well-known/jwks.json), not by a key the sandbox made.
 */
export interface RegisteredClient {
  clientId: string;
  jwksUrl: string;
}

export async function makeSandboxCredentials(
  mode: SandboxAuthMode,
  keyDir: string,
  registered?: RegisteredClient,
): Promise<SandboxCredentials> {
  const secret = randomBytes(18).toString('base64url');
  if (mode === 'smart-backend' && registered)
    return {
      server: { mode, clientId: registered.clientId, jwksUrl: registered.jwksUrl, tokenLifetimeSeconds: 300 },
      client: () => {
        throw new Error('a registered client signs with its own key (its sources file names it)');
      },
      describe: (tokenUrl) => [
        'auth: SMART Backend Services (RS384 or ES384), the client registered by JWKS URL',
        `  token URL: ${tokenUrl}`,
        `  client id: ${registered.clientId}`,
        `  public keys read from: ${registered.jwksUrl}`,
      ],
    };
  switch (mode) {
    case 'open':
      return { server: { mode }, client: () => ({ type: 'none' }), describe: () => ['auth: none'] };
    case 'bearer':
      return {
        server: { mode, token: secret },
        client: () => ({ type: 'bearer', token: secret }),
        describe: () => [`auth: bearer token ${secret}`],
      };
    case 'client_credentials':
      return {
        server: { mode, clientId: 'sandbox-client', clientSecret: secret, tokenLifetimeSeconds: 300 },
        client: (tokenUrl) => ({
          type: 'client_credentials',
          tokenUrl,
          clientId: 'sandbox-client',
          clientSecret: secret,
        }),
        describe: (tokenUrl) => [
          `auth: client_credentials`,
          `  token URL: ${tokenUrl}`,
          `  client id: sandbox-client`,
          `  client secret: ${secret}`,
        ],
      };
    case 'smart-backend': {
      const { publicKey, privateKey } = await generateKeyPair('RS384', { extractable: true });
      const publicJwk = { ...(await exportJWK(publicKey)), alg: 'RS384', kid: 'sandbox-key' };
      mkdirSync(keyDir, { recursive: true });
      const keyFile = path.join(keyDir, 'sandbox-smart-private-key.pem');
      writeFileSync(keyFile, await exportPKCS8(privateKey), { mode: 0o600 });
      return {
        server: { mode, clientId: 'sandbox-backend', publicJwk, tokenLifetimeSeconds: 300 },
        client: (tokenUrl) => ({
          type: 'smart-backend',
          clientId: 'sandbox-backend',
          keyFile,
          keyId: 'sandbox-key',
          algorithm: 'RS384',
          tokenUrl,
          scope: 'system/*.read system/*.write',
        }),
        describe: (tokenUrl) => [
          `auth: SMART Backend Services (RS384)`,
          `  token URL: ${tokenUrl}`,
          `  client id: sandbox-backend`,
          `  private key: ${keyFile} (kid sandbox-key)`,
        ],
      };
    }
  }
}
