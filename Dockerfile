# syntax=docker/dockerfile:1
# Detour: compiled once in a build stage (TypeScript → dist/, no loader at
# run time), then runtime dependencies only, non-root, fine with a read-only
# root filesystem.

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY gen ./gen
COPY src ./src
RUN npx tsc -p tsconfig.build.json && node scripts/copy-assets.mjs && node scripts/bundle.mjs

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# What `npm start` runs (a test keeps the two equal). The young generation is
# capped at 16 MB a semi-space: V8 would grow it to 64 MB under load, holding
# ~80 MB more RSS for no CPU saved; without V8's memory reducer, start-up hands
# back the young generation it grew (src/settle-heap.ts) and no idle pause
# makes the next burst pay for a memory-reducing collection (bench: README,
# Performance).
ENTRYPOINT ["node", "--max-semi-space-size=16", "--no-memory-reducer", "dist/src/bundle/main.js"]
