/**
 * Outbound proxy and TLS settings: a sync through a local forwarding proxy
 * (CONNECT tunnels and plain absolute-URI requests) with HTTP_PROXY /
 * HTTPS_PROXY from the environment, and NO_PROXY respected.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import http, { type Server } from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/load';
import type { SandboxServer } from '../../src/sandbox/server';
import { syncSource } from '../../src/sync/run';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { memoryStore } from '../helpers/store';

interface Proxy {
  url: string;
  connects: string[];
  plain: string[];
  close: () => Promise<void>;
}

/** A minimal forward proxy: CONNECT host:port is tunnelled; an absolute-URI request is forwarded. */
async function startProxy(): Promise<Proxy> {
  const connects: string[] = [];
  const plain: string[] = [];
  const sockets = new Set<net.Socket>();
  const server: Server = http.createServer((req, res) => {
    plain.push(`${req.method} ${req.url}`);
    const target = new URL(req.url ?? '');
    const upstream = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: req.method,
        headers: req.headers,
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connect', (req, client: net.Socket, head) => {
    connects.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    sockets.add(client).add(upstream);
  });
  server.on('connection', (s) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    connects,
    plain,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

let emr: SandboxServer;
let proxy: Proxy;
let dir: string;
beforeAll(async () => {
  emr = await seededSandbox({ patients: 4, seed: 3 });
  proxy = await startProxy();
  dir = mkdtempSync(path.join(os.tmpdir(), 'fe-proxy-'));
  writeFileSync(
    path.join(dir, 'fhir-engage.config.yaml'),
    `sources:\n  - id: proxied\n    baseUrl: ${emr.baseUrl}\n    writeBack: false\n`,
  );
});
afterAll(async () => {
  await proxy.close();
  await emr.close();
});

test('with HTTP_PROXY set, every request of a sync goes through the proxy, and the sync completes', async () => {
  const config = loadConfig({ env: { HTTP_PROXY: proxy.url }, cwd: dir });
  expect(config.sources[0]?.proxy).toEqual({ httpProxy: proxy.url });
  const store = await memoryStore();
  try {
    const summary = await syncSource(store, config, config.sources[0]!, { asOf: new Date(TEST_ANCHOR) });
    expect(summary.status).toBe('succeeded');
    const through = proxy.connects.length + proxy.plain.length;
    expect(through).toBeGreaterThan(0);
    const host = new URL(emr.baseUrl).host;
    expect([...proxy.connects, ...proxy.plain].every((r) => r.includes(host))).toBe(true);
  } finally {
    await store.close();
  }
});

test('NO_PROXY naming the server (lower-case variables work too): nothing goes through the proxy', async () => {
  const before = proxy.connects.length + proxy.plain.length;
  const config = loadConfig({ env: { http_proxy: proxy.url, no_proxy: '127.0.0.1' }, cwd: dir });
  expect(config.sources[0]?.proxy).toEqual({ httpProxy: proxy.url, noProxy: '127.0.0.1' });
  const store = await memoryStore();
  try {
    const summary = await syncSource(store, config, config.sources[0]!, { asOf: new Date(TEST_ANCHOR) });
    expect(summary.status).toBe('succeeded');
    expect(proxy.connects.length + proxy.plain.length).toBe(before);
  } finally {
    await store.close();
  }
});

test('a proxy that is down is a clear network error naming the URL, not a hang', async () => {
  const config = loadConfig({ env: { HTTP_PROXY: 'http://127.0.0.1:9' }, cwd: dir });
  const store = await memoryStore();
  try {
    const summary = await syncSource(
      store,
      config,
      { ...config.sources[0]!, maxRetries: 0 },
      { asOf: new Date(TEST_ANCHOR) },
    );
    expect(summary.status).toBe('failed');
    expect(summary.pull[0]?.error).toMatch(/network error \(ECONNREFUSED\)/);
  } finally {
    await store.close();
  }
});

test('tls.caFile must be readable: a missing file is a config error naming the field and the file', () => {
  writeFileSync(
    path.join(dir, 'bad.yaml'),
    `sources:\n  - id: ca\n    baseUrl: https://emr.example/fhir\n    tls: { caFile: ./missing-ca.pem }\n`,
  );
  expect(() => loadConfig({ env: {}, cwd: dir, configFile: 'bad.yaml' })).toThrow(
    /sources\[0\]\.tls\.caFile names a file that cannot be read: .*missing-ca\.pem/,
  );
});
