# aptfreeze: the daemon in a slim Node 20 Debian image, the data directory as a volume.
FROM node:20-bookworm-slim

# gpgv/xz/bzip2/lz4 read upstream formats; the build tools compile better-sqlite3 and zstd-napi.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gpgv xz-utils bzip2 lz4 ca-certificates debian-archive-keyring python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY server ./server
COPY migrations ./migrations
COPY migrations-pg ./migrations-pg
COPY scripts/build.mjs ./scripts/build.mjs
# `prepare` bundles the CLI into dist/ during npm ci.
RUN npm ci --omit=dev && apt-get purge -y python3 make g++ && apt-get autoremove -y

ENV APTFREEZE_DATA=/data APTFREEZE_CONFIG=/etc/aptfreeze/aptfreeze.yaml
VOLUME ["/data"]
EXPOSE 8080
# Mount the configuration at /etc/aptfreeze/aptfreeze.yaml (its `listen` should be 0.0.0.0:8080).
ENTRYPOINT ["node", "bin/aptfreeze.js"]
CMD ["serve"]
