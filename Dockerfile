# Node 26, the Active LTS line (since October 2026); package.json's engines say 22 or later.
# Build stage: compile TypeScript with the dev dependencies.
FROM node:26-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
COPY workers ./workers
COPY migrations ./migrations
COPY bench ./bench
COPY test ./test
RUN npm run build && npm prune --omit=dev

# Runtime stage: production dependencies, compiled output and the Lua scripts, owned by root and
# read-only to the process, which runs as `node`: a compromised process cannot rewrite its code.
FROM node:26-trixie-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY lua ./lua
COPY ecosystem.config.js ./
USER node
EXPOSE 8080 9464
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD node -e "fetch('http://127.0.0.1:'+(process.env.PROCESS_ROLE==='worker'?process.env.METRICS_PORT:process.env.PORT)+(process.env.PROCESS_ROLE==='worker'?'/metrics':'/readyz')).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/src/server.js"]
