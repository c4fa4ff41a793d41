# Causeway container image.
#
#   docker build -t causeway .
#   docker run --rm -p 5280:5280 -e CAUSEWAY_UPSTREAM='example.org=starttls://xmpp.example.org' causeway
#
# Configuration is by CAUSEWAY_* environment variables or flags after the
# image name (`docker run causeway --help`); see docs/configuration.md.

# The current Node.js LTS line (engines in package.json lists every line tested).
ARG NODE_IMAGE=node:24-bookworm-slim

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
# shutdown). The probe (src/bin/healthcheck.ts) reads the running process's
# own flags, CAUSEWAY_* variables and config file from /proc/1, so it follows
# whatever port, host or TLS setting the container was given; over https it
# does not verify the certificate, since it only asks this container's own
# process over loopback.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "dist/bin/healthcheck.js"]

# Node is PID 1: Causeway handles SIGTERM/SIGINT itself (ends every session,
# then exits within shutdownTimeoutMs).
ENTRYPOINT ["node", "dist/bin/causeway.js"]
