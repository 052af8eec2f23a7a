/** What doctor's checks are, and the plain words for why a connection or a token failed (pure). */
import type { SourceConfig } from '../config/types';
import { describeError } from '../errors';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  step: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
}

export interface Diagnosis {
  sourceId: string;
  /** True when a sync would work (no check failed). */
  ok: boolean;
  checks: Check[];
}

/** What a network failure means, in the words an integration engineer needs (pure). */
export function explainNetworkError(text: string, host: string): { detail: string; fix: string } {
  const code = /\(([A-Z_]+)\)/.exec(text)?.[1] ?? '';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return {
      detail: `the host ${host} cannot be resolved (DNS)`,
      fix: 'check baseUrl; inside a hospital network, the name may need the internal DNS or a proxy (HTTPS_PROXY)',
    };
  if (code === 'ECONNREFUSED')
    return {
      detail: `${host} refused the connection`,
      fix: 'check the port in baseUrl and that the server (or the proxy in HTTPS_PROXY) is up',
    };
  if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || /no response within/.test(text))
    return {
      detail: `${host} did not answer in time`,
      fix: 'a firewall may drop the traffic: ask for the route to be opened, or set HTTPS_PROXY to the hospital proxy',
    };
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code))
    return {
      detail: `the certificate of ${host} is not trusted (${code})`,
      fix: "set tls.caFile on the source to the hospital's CA bundle (PEM)",
    };
  return {
    detail: `${host} could not be reached: ${text}`,
    fix: 'check baseUrl, the network route and HTTPS_PROXY/NO_PROXY',
  };
}

/** Why a token request failed, and what to change (pure). */
export function explainTokenError(err: unknown, source: SourceConfig): { detail: string; fix: string } {
  const text = describeError(err);
  const asked =
    source.auth.type === 'client_credentials' || source.auth.type === 'smart-backend' ? source.auth.scope : undefined;
  if (/invalid_scope/.test(text))
    return {
      detail: `the token endpoint refused the scopes asked (${asked ?? 'none'})`,
      fix: 'ask only for scopes the registration grants (system/<Type>.read for each pulled type, system/Task.write and system/Observation.write for write-back), or have them added to the registration',
    };
  if (/invalid_client|HTTP 401/.test(text)) {
    return source.auth.type === 'smart-backend'
      ? {
          detail: 'the token endpoint does not accept this client',
          fix: 'check auth.clientId, and that the public key of auth.keyFile is registered (its JWKS URL /.well-known/jwks.json, kid = auth.keyId) with the same algorithm',
        }
      : {
          detail: 'the token endpoint does not accept this client id and secret',
          fix: 'check auth.clientId and the secret the environment variable holds',
        };
  }
  if (/token_endpoint|discover/.test(text)) return { detail: text, fix: 'set auth.tokenUrl explicitly' };
  return { detail: text, fix: "check auth.tokenUrl and the EMR's token endpoint" };
}
