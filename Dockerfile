# Quarterdeck portal image: the backend and the built frontend on port 7007
# (reach it only through the authenticating proxy), and the gateway's data
# plane, a child process, on port 7008. Configured by app-config.production.yaml
# and the environment variables README.md lists under "Production".
#
#   docker build -t quarterdeck .
#
# The backend runs from its TypeScript sources through Backstage's node
# transform (`backstage-cli package build` for a backend bundle needs yarn,
# which this npm-workspaces repo does not use).

# --- build: install everything, build the frontend -------------------------
FROM node:22-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 g++ make libsqlite3-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/app/package.json packages/app/
COPY packages/backend/package.json packages/backend/
COPY plugins plugins
RUN npm install --no-audit --no-fund
COPY . .
# The backend runs through @backstage/cli's transform, so dev dependencies stay.
RUN npm run build

# --- run -------------------------------------------------------------------
FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build --chown=node:node /app /app
USER node
EXPOSE 7007 7008
CMD ["node", "--enable-source-maps", \
     "--require", "@backstage/cli/config/nodeTransform.cjs", \
     "packages/backend/src/index.ts", \
     "--config", "app-config.production.yaml"]
