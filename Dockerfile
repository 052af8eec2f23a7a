# fhir-engage: multi-stage image. Build: docker build -t fhir-engage .
# Run:   docker run -p 8080:8080 -e DATABASE_URL=postgres://… -e FHIR_ENGAGE_API_KEY=… \
#          -v /etc/fhir-engage:/config:ro -e FHIR_ENGAGE_CONFIG=/config/fhir-engage.config.yaml fhir-engage
# (compose.yaml runs it with PostgreSQL.)

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY web ./web
COPY scripts ./scripts
RUN npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    FHIR_ENGAGE_HOST=0.0.0.0 \
    FHIR_ENGAGE_PORT=8080 \
    FHIR_ENGAGE_DATA_DIR=/data \
    FHIR_ENGAGE_KEYS_DIR=/keys
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY --from=build /app/web/dist ./web/dist
COPY bin ./bin
COPY mappings ./mappings
COPY profiles ./profiles
COPY fixtures ./fixtures
# The sources (bin/fhir-engage.js runs dist/ when src/ is absent) are not in the image.
# FHIR definitions split per resource type (node_modules/.cache/fhir-engage), built now: the
# runtime user cannot write node_modules, and without the cache every process reads the 35 MB file.
RUN node -e "require('./dist/validation/definitions').ensureTypesIndexed(['Patient'])"
RUN mkdir -p /data /keys && chown node:node /data /keys
USER node
EXPOSE 8080
VOLUME ["/data", "/keys"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.FHIR_ENGAGE_PORT||8080)+'/api/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "bin/fhir-engage.js"]
CMD ["serve"]
