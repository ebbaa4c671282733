# One image for every service: the streamer, the batch CLI and the Airflow 3 components.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONPATH=/opt/platform \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/platform/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/platform/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    DBT_PROFILES_DIR=/opt/platform/dbt_project

RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 50000 platform \
    && mkdir -p /opt/airflow /opt/platform /opt/data /run/platform \
    && chown platform /opt/airflow /opt/data /run/platform

WORKDIR /opt/platform
COPY requirements.txt .
# Every file checked against its recorded sha256 (scripts/lock.py; the hashes are those of the
# linux x86_64 wheels: build for linux/amd64).
RUN pip install --require-hashes -r requirements.txt
COPY --chown=platform . .

USER platform
CMD ["python", "-m", "include.cli", "--help"]
