# change-proxy: a slim image that runs `change-proxy serve` on port 5000 (PORT) as a non-root
# user. RUN --mount needs BuildKit (Docker's default builder since 23.0) or buildah/podman.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY proxy ./proxy
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
# glibc's malloc, tuned for a container of Sesam's default 128 MB (measured with
# `python -m bench.memory`, 100,000 contacts, a full sync with unpaged pulls at once):
# MALLOC_ARENA_MAX=2: each thread (the SQLite writer, the feed's readers, the executor) would
#   otherwise get an arena of its own that keeps what it freed; peak 107.8 -> 103.4 MiB on
#   SQLite, 90.9 -> 90.0 on Postgres.
# MALLOC_MMAP_THRESHOLD_=131072: glibc's default threshold, pinned. Left dynamic, it rises
#   after the first large buffer is freed (HubSpot pages of ~260 KB, feed batches of 1 MB),
#   and later large buffers come from the heap, which fragments and never shrinks; pinned,
#   they are mmapped and returned when freed. Peak 103.4 -> 90.8 MiB on SQLite, 90.0 -> 84.2
#   on Postgres. Speed: the same within this shared machine's noise (the sync's times in
#   bench.memory; bench.feed's unpaged pull 1.49x -> 1.66x its floor, both runs with other
#   work taking 60% of the machine); re-measure on an idle machine.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072 \
    DATABASE_URL=sqlite:////data/mirror.db
# The wheels are bind-mounted from the build stage, not copied: a COPY would stay behind as a
# layer of its own (16.5 MB) even after an rm.
# The user is not called `proxy`: Debian's base-passwd already has one (uid 13).
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/*.whl \
    && useradd --create-home --uid 10001 changeproxy \
    && mkdir /data && chown changeproxy /data
USER 10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 5000
# Asks the port serve listens on: PORT set at `docker run` moves the check with it.
HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '5000'), timeout=4)"]
ENTRYPOINT ["change-proxy"]
CMD ["serve"]
