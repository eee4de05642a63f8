# Production image of the Telemed portal: one image for web (daphne), worker, beat and the
# migrate job; docker-compose.yml and deploy/ choose the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TELEMED_VAR_DIR=/app/var

RUN groupadd --system --gid 10001 telemed \
 && useradd --system --uid 10001 --gid telemed --home-dir /app --no-create-home --shell /usr/sbin/nologin telemed

# libmagic decides what an uploaded file is (records.uploads); DejaVu gives the PDF exports
# accents, Greek and Cyrillic.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmagic1 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Requirements first: the dependency layer is rebuilt only when requirements.txt changes.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Static files are collected at build time so a container with a read-only root filesystem
# can serve them (whitenoise). Settings refuse to import with DEBUG=0 and no keys, so the
# build passes throwaway values that exist only in this RUN step, never in the image's env.
RUN DEBUG=0 \
    SECRET_KEY=build-only-placeholder-never-used-at-runtime-0123456789abcdef \
    AUDIT_HMAC_KEY=build-only-placeholder-never-used-at-runtime \
    JWT_SIGNING_KEY=build-only-placeholder-never-used-at-runtime-0123456789abcdef \
    FIELD_ENCRYPTION_KEYS=build:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    python manage.py collectstatic --noinput --verbosity 0 \
 && mkdir -p /app/var/celery /app/var/media \
 && chown -R telemed:telemed /app/var/celery /app/var/media

USER 10001:10001
EXPOSE 8000

# No --proxy-headers: daphne would take the left-most X-Forwarded-For entry, which a client
# can forge. telemed.middleware.client_ip reads the header only from TRUSTED_PROXIES.
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "telemed.asgi:application"]
