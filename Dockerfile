FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# WeasyPrint renders mail pieces with Pango; the fonts are what templates get without their own.
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
        fonts-dejavu-core fonts-liberation && rm -rf /var/lib/apt/lists/*

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
# collectstatic needs settings, not secrets: a throwaway key is enough at build time.
RUN SECRET_KEY=build-only MOBUL_ENV=production ALLOWED_HOSTS=build GIFT_CARD_ENCRYPTION_KEYS=build \
    GIFT_CARD_HASH_KEY=build python manage.py collectstatic --no-input \
    && useradd --system --uid 1000 mobul && mkdir -p /app/media && chown mobul /app/media
# The image is production: without SECRET_KEY and the other secrets production requires it refuses to start.
ENV MOBUL_ENV=production
USER mobul

EXPOSE 8000
CMD ["gunicorn", "mobul.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
