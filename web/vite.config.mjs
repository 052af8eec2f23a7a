// The dashboard is served by fhir-engage's API at `/`: relative asset paths, everything bundled (no CDN).
export default {
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 400 },
};
