/**
 * The web dashboard (web/, built by Vite into web/dist) served by the API's
 * express app at `/`. Its data comes from /api with the same key; the key is
 * kept in the browser's session storage, never in a URL.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import express from 'express';

export const DASHBOARD_DIR = path.join(__dirname, '..', '..', 'web', 'dist');

// The dashboard ships its own scripts and styles: nothing from elsewhere may run or be framed.
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export function mountDashboard(app: express.Express, dir: string = DASHBOARD_DIR): void {
  app.use((req, res, next) => {
    if (req.path.startsWith('/api')) return next();
    res.set({
      'Content-Security-Policy': CSP,
      'X-Frame-Options': 'DENY',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    });
    next();
  });
  if (!existsSync(path.join(dir, 'index.html'))) {
    app.get('/', (_req, res) => {
      res
        .status(503)
        .type('text/plain')
        .send('The dashboard is not built: run `npm run build:web` (npm start does it for you).\n');
    });
    return;
  }
  app.use(
    express.static(dir, {
      index: 'index.html',
      maxAge: '1h',
      setHeaders: (res, file) => file.endsWith('index.html') && res.setHeader('Cache-Control', 'no-cache'),
    }),
  );
}
