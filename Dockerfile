# ticketbot daemon: `ticketbot run` on 0.0.0.0:8080, SQLite in the /data volume by default.
#   docker build -t ticketbot .
#   docker run -p 8080:8080 -v ticketbot-data:/data --env-file ticketbot.env ticketbot
# Other commands run in the same image: `docker run … ticketbot db upgrade`, `… dead-letters`.
# Several replicas: set TICKETBOT_DATABASE_URL=postgresql+psycopg://… (no shared volume needed).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies first, so editing the code does not reinstall them.
# Exact versions from requirements.lock (the ones the tests ran with): a rebuild gets the same image.
COPY pyproject.toml README.md requirements.lock ./
RUN python -m venv /opt/venv \
 && /opt/venv/bin/python -c "import subprocess, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; deps = p['dependencies'] + p['optional-dependencies']['postgres']; subprocess.run(['/opt/venv/bin/pip', 'install', '-c', 'requirements.lock', 'setuptools>=69', *deps], check=True)"
COPY bot ./bot
COPY rules ./rules
RUN /opt/venv/bin/pip install --no-deps .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TICKETBOT_HTTP__HOST=0.0.0.0 \
    TICKETBOT_HTTP__PORT=8080 \
    TICKETBOT_DATABASE_URL=sqlite:////data/ticketbot.sqlite3 \
    TICKETBOT_CONFIG=/etc/ticketbot/ticketbot.yaml
RUN groupadd --system --gid 10001 ticketbot \
 && useradd --system --uid 10001 --gid ticketbot --home-dir /data --no-create-home --shell /usr/sbin/nologin ticketbot \
 && mkdir -p /data \
 && chown ticketbot:ticketbot /data
COPY --from=build /opt/venv /opt/venv
# The rules YAML; mount your own over it (or point TICKETBOT_CONFIG elsewhere).
COPY config/ticketbot.yaml /etc/ticketbot/ticketbot.yaml
USER ticketbot
WORKDIR /data
# The SQLite database, its WAL and the scheduler lock file live here.
VOLUME ["/data"]
EXPOSE 8080
# Liveness: 200 while the process answers. Not /readyz (database, intake file, workers, scheduler): an
# orchestrator that restarts unhealthy containers would restart ticketbot only because the database is
# briefly away, which a restart does not mend. Point a load balancer's or Kubernetes' readiness probe at
# /readyz (/healthz is the same), and alert on its 503s.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('TICKETBOT_HTTP__PORT', '8080'), timeout=4)" || exit 1
# Exec form: ticketbot is PID 1 and gets SIGTERM itself (stops accepting, finishes in-flight work).
ENTRYPOINT ["ticketbot"]
CMD ["run"]
