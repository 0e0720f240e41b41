# syntax=docker/dockerfile:1
# The tracejob image: the operator (`tracejob operator`) and the tracer pods (`tracejob runner`) run the same image.
# The checkout's TypeScript runs directly on the Node 24 runtime that the `node` npm package pins, so there is no
# build step beyond installing production dependencies.

# Stage 1: production dependencies, including the pinned Node runtime (node_modules/.bin/node).
FROM node:24-bookworm-slim AS dependencies
WORKDIR /opt/tracejob
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# Stage 2: Debian 12 with the tracers. The package list lives in packages/tracer-image.txt, which CI installs too.
FROM debian:12-slim
COPY packages/tracer-image.txt /tmp/tracer-image.txt
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive xargs --arg-file=/tmp/tracer-image.txt \
      apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/tracer-image.txt
WORKDIR /opt/tracejob
COPY --from=dependencies /opt/tracejob/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
ENV PATH=/opt/tracejob/node_modules/.bin:$PATH \
    NODE_ENV=production
RUN ln -s /opt/tracejob/bin/tracejob.js /usr/local/bin/tracejob \
 && tracejob --help >/dev/null
# Root by default because tracer pods need it to reach other containers' processes; the chart runs the operator as
# UID 65532 with every capability dropped and a read-only root filesystem.
ENTRYPOINT ["tracejob"]
