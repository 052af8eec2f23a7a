/**
 * Starts an HTTP server for an express app and resolves once it listens.
 * express 5's `app.listen(port, host, cb)` calls `cb` with the error too
 * (EADDRINUSE included), so a caller that resolves in `cb` would go on with a
 * server that never listened; this waits for 'listening' or 'error' instead.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { configError } from '../errors';

export async function listen(app: RequestListener, port: number, host: string, portFlag = '--port'): Promise<{ server: Server; port: number }> {
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      if (err.code === 'EADDRINUSE') reject(configError(`port ${port} on ${host} is already in use: choose another with ${portFlag}`, [portFlag]));
      else if (err.code === 'EACCES') reject(configError(`no permission to listen on port ${port} of ${host}: choose a port above 1023 with ${portFlag}`, [portFlag]));
      else if (err.code === 'EADDRNOTAVAIL') reject(configError(`cannot listen on ${host}: no such address on this machine`, ['--host']));
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
