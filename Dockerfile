# Skywatch: the same install steps as the README (`pip install` of this project), in a slim image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SKYWATCH_CONFIG=/app/feeds.yaml \
    SKYWATCH_DATA_DIR=/data

WORKDIR /app

# Dependencies first (pinned in pyproject.toml), so code changes rebuild only the last layers.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY migrations ./migrations
RUN pip install --no-cache-dir . \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin skywatch \
 && mkdir -p /data \
 && chown skywatch /data

COPY feeds.yaml ./feeds.yaml

USER 10001
VOLUME ["/data"]
# Slack slash commands over HTTP (settings.slack_port), Telegram webhook (telegram_webhook_port)
EXPOSE 3000 8443

# Healthy while the database answers and no feed is long overdue (the scheduler is alive).
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
  CMD ["skywatch", "health"]

CMD ["skywatch", "run"]
