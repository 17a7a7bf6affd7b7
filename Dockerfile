# syntax=docker/dockerfile:1
# One image, two roles: ai-video-api (the default command; `ai-video-api migrate`
# for the migration hook) and ai-video-worker. charts/ai-video runs both from it.
#
#   docker build -t ai-video:0.1.0 .
#
# The binaries link only libc, libm and libgcc_s (TLS is rustls, SQLite is
# bundled), so the runtime stage adds nothing but ffmpeg, espeak-ng (the offline narrator), the Noto CJK fonts
# (burned captions) and CA certificates.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the build directory between builds; the
# binaries are copied out of the cached target directory in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ai-video-api -p ai-video-worker \
 && install -D -m 0755 -t /out target/release/ai-video-api target/release/ai-video-worker

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg espeak-ng fonts-noto-cjk ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# A fixed non-root uid/gid (the chart's runAsUser), with no login shell.
RUN groupadd --system --gid 10001 ai-video \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin ai-video \
 && mkdir -p /app/data /work \
 && chown 10001:10001 /app/data /work
WORKDIR /app
COPY --from=build /out/ai-video-api /out/ai-video-worker /usr/local/bin/
# Container defaults: listen on every interface, JSON logs, job files in /work.
# The chart sets the same through its ConfigMap.
ENV BIND_ADDR=0.0.0.0:8000 \
    METRICS_ADDR=0.0.0.0:9091 \
    LOG_FORMAT=json \
    WORK_DIR=/work
USER 10001:10001
EXPOSE 8000 9091
CMD ["ai-video-api"]
