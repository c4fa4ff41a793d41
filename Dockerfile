# Causeway container image.
#
#   docker build -t causeway .
#   docker run --rm -p 5280:5280 -e CAUSEWAY_UPSTREAM='example.org=starttls://xmpp.example.org' causeway
#
# Configuration is by CAUSEWAY_* environment variables or flags after the
# image name (`docker run causeway --help`); see docs/configuration.md.

ARG NODE_IMAGE=node:20-bookworm-slim

# ── build: compile TypeScript with the dev dependencies ──────────────────
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ── runtime: production dependencies and the compiled output only ────────
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist

# A container's loopback is unreachable from outside: listen on all of the
# container's interfaces (the default, 127.0.0.1, suits a bare host).
ENV CAUSEWAY_HOST=0.0.0.0

# Files stay root-owned and read-only to the process.
USER node
EXPOSE 5280

# /healthz answers 200 while the process serves (503 once it drains for
# shutdown). The probe follows CAUSEWAY_PORT and, with CAUSEWAY_TLS_CERT set,
# speaks https; it does not verify the certificate, since it only asks this
# container's own process over loopback.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const tls = Boolean(process.env.CAUSEWAY_TLS_CERT); require(tls ? 'node:https' : 'node:http').get({ host: '127.0.0.1', port: Number(process.env.CAUSEWAY_PORT || 5280), path: '/healthz', rejectUnauthorized: false, timeout: 4000 }, (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))"]

# Node is PID 1: Causeway handles SIGTERM/SIGINT itself (ends every session,
# then exits within shutdownTimeoutMs).
ENTRYPOINT ["node", "dist/bin/causeway.js"]
