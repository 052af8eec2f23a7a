/**
 * How requests reach a server: directly, or through the proxy the
 * environment names (HTTPS_PROXY / HTTP_PROXY / NO_PROXY, which Node's fetch
 * ignores by itself), trusting a source's extra CA bundle (`tls.caFile`, a
 * hospital's own CA) as well as the system's. One dispatcher per distinct
 * setting, shared by every client that uses it.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { rootCertificates } from 'node:tls';
import type { Dispatcher } from 'undici';
import type { ProxySettings } from '../config/types';
import { configError } from '../errors';

export interface NetworkSettings {
  proxy?: ProxySettings;
  caFile?: string;
}

const dispatchers = new Map<string, Dispatcher>();

/**
 * undici is loaded only when a proxy or CA applies: importing it installs its own global dispatcher
 * in place of the one built into Node's fetch, which must stay in charge of every other request.
 */
function undici(): typeof import('undici') {
  return createRequire(__filename)('undici') as typeof import('undici');
}

/** undefined: Node's default (direct, system CAs). */
export function dispatcherFor(settings: NetworkSettings): Dispatcher | undefined {
  const proxied = !!(settings.proxy?.httpProxy || settings.proxy?.httpsProxy);
  if (!proxied && !settings.caFile) return undefined;
  const key = JSON.stringify([settings.proxy ?? null, settings.caFile ?? null]);
  const known = dispatchers.get(key);
  if (known) return known;
  let ca: string[] | undefined;
  if (settings.caFile) {
    try {
      // Added to the system's roots, not instead of them (the token endpoint may be public).
      ca = [...rootCertificates, readFileSync(settings.caFile, 'utf8')];
    } catch (err) {
      throw configError(
        `tls.caFile ${settings.caFile} cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
        ['tls.caFile'],
        err,
      );
    }
  }
  const tls = ca ? { ca } : undefined;
  const { Agent, EnvHttpProxyAgent } = undici();
  const dispatcher: Dispatcher = proxied
    ? new EnvHttpProxyAgent({
        httpProxy: settings.proxy?.httpProxy,
        httpsProxy: settings.proxy?.httpsProxy,
        noProxy: settings.proxy?.noProxy ?? '',
        ...(tls ? { connect: tls, requestTls: tls } : {}),
      })
    : new Agent({ connect: tls });
  dispatchers.set(key, dispatcher);
  return dispatcher;
}
