/**
 * Starts an HTTP server for an express app and resolves once it listens.
 * express 5's `app.listen(port, host, cb)` calls `cb` with the error too
 * (EADDRINUSE included), so a caller that resolves in `cb` would go on with a
 * server that never listened; this waits for 'listening' or 'error' instead.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { configError } from './errors';

export async function listen(
  app: RequestListener,
  port: number,
  host: string,
  portFlag = '--port',
): Promise<{ server: Server; port: number }> {
  const server = createServer(app);
  // Idle connections are kept longer than clients keep them (undici: 4 s unless told): the client closes
  // first, so a request never goes out on a socket the server is closing — a race that a busy event loop
  // (a sync compiling schemas) made frequent with Node's 5 s default.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      if (err.code === 'EADDRINUSE')
        reject(configError(`port ${port} on ${host} is already in use: choose another with ${portFlag}`, [portFlag]));
      else if (err.code === 'EACCES')
        reject(
          configError(`no permission to listen on port ${port} of ${host}: choose a port above 1023 with ${portFlag}`, [
            portFlag,
          ]),
        );
      else if (err.code === 'EADDRNOTAVAIL')
        reject(configError(`cannot listen on ${host}: no such address on this machine`, ['--host']));
      else reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
  return { server, port: (server.address() as AddressInfo).port };
}
