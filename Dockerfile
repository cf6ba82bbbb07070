# syntax=docker/dockerfile:1.7
# SalesPulse images, one multi-stage build from the same pinned lock as local development.
#   docker build --target web .      Django (daphne) + relay
#   docker build --target stream .   Kafka producer and stream consumer
#   docker build --target spark .    spark-submit client for the batch job
#   docker build --target airflow .  Airflow 3 (official image) + the SalesPulse package

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11

# ---- base: Python + Java 17 (Spark needs it) + an unprivileged user ---------
FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 salespulse \
 && useradd --system --uid 10001 --gid salespulse --home-dir /app --shell /usr/sbin/nologin salespulse

# ---- builder: install the lock into a venv (and Chart.js from npm) ----------
FROM base AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY requirements.txt ./
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt
COPY pyproject.toml README.md ./
COPY salespulse ./salespulse
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps .
COPY django_app ./django_app
RUN if [ -f django_app/package.json ]; then cd django_app && npm ci --omit=dev --no-audit --no-fund; fi

# ---- runtime: what every service image shares -------------------------------
FROM base AS runtime
ENV PATH=/opt/venv/bin:$PATH SALESPULSE_HOME=/app SALESPULSE_DATA_DIR=/data
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY --chown=salespulse:salespulse . /app
COPY --from=builder --chown=salespulse:salespulse /build/django_app /app/django_app
RUN mkdir -p /data && chown salespulse:salespulse /data
USER salespulse
ENTRYPOINT ["/usr/bin/tini", "--"]

FROM runtime AS web
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --retries=5 CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)" || exit 1
CMD ["salespulse", "web", "--host", "0.0.0.0", "--port", "8000"]

FROM runtime AS stream
CMD ["salespulse", "consume"]

FROM runtime AS spark
CMD ["salespulse", "batch", "--mode", "incremental"]

# ---- airflow: the official image at the locked version + our package --------
FROM ${AIRFLOW_IMAGE} AS airflow
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 SALESPULSE_HOME=/opt/salespulse SALESPULSE_DATA_DIR=/data
COPY --chown=airflow:root . /opt/salespulse
USER airflow
# The lock already pins Airflow itself, so this cannot move Airflow's version; pyspark is
# installed as the full package (not the Spark provider's pyspark-client).
RUN pip install --no-cache-dir -r /opt/salespulse/requirements.txt \
 && pip install --no-cache-dir --no-deps /opt/salespulse
ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/salespulse/airflow/dags AIRFLOW__CORE__LOAD_EXAMPLES=False
