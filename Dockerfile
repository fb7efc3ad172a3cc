# One image for every service; each compose service runs it with its own command.
FROM node:20-slim AS portal-assets
WORKDIR /build/services/gateway
COPY services/gateway/package.json services/gateway/package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=/app
WORKDIR /app
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
COPY sandboxes ./sandboxes
COPY scripts ./scripts
RUN pip install --no-cache-dir .
COPY --from=portal-assets /build/services/gateway/node_modules ./services/gateway/node_modules
RUN useradd --create-home --uid 10001 app && mkdir -p /data && chown app /data
USER app
CMD ["python", "-m", "services.gateway"]
