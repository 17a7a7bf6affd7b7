#!/usr/bin/env bash
# The demo: turns a short story into a video on the embedded default (a SQLite
# file, a local media directory and the offline `local` provider), with a private
# redis-server on a free port. It starts the API and a worker, drives the story
# through planning, preview and final render with the `ai-video` command-line
# client (cli/, docs/cli.md) while it shows the progress, downloads the MP4, prints
# where it is, and stops everything it started, also on Ctrl-C.
#
#   scripts/demo.sh
#
# On a fresh Debian/Ubuntu machine with the Rust toolchain it installs what it
# lacks (redis-server, ffmpeg, curl, jq) with apt when run as root.
#
# With provider keys in the environment (STABILITY_AI_KEY, RUNWAY_ML_KEY,
# REPLICATE_API_TOKEN, and *_API_BASE to use other servers), choose the story's
# providers with DEMO_IMAGE_PROVIDER and DEMO_VIDEO_PROVIDER (default: local).
# DEMO_PROVIDER_SETTINGS='{"runway_ml": {...}}' patches provider settings first
# (scripts/test.sh uses it to poll its fake servers quickly).
#
# The admin panel is at /admin/ai_video/ on the API while the demo runs; sign in with
# the admin token it writes to data/demo/admin-token. DEMO_STAY=1 keeps the API and
# the worker up after the film is made, until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

need redis-server redis-server
need ffmpeg ffmpeg
need espeak-ng espeak-ng
need_packages fonts-noto-cjk
need ffprobe ffmpeg
need curl curl
need jq jq

DEMO="$PWD/data/demo"
rm -rf "$DEMO"
mkdir -p "$DEMO"
PIDS=()
cleanup() {
  local status=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  stop_redis
  exit "$status"
}
trap cleanup EXIT
trap 'echo; log "interrupted; stopping"; exit 130' INT TERM

log "building ai-video (the first build takes a few minutes)"
cargo build --quiet --bins --locked
BIN="$CARGO_TARGET_DIR/debug"

start_redis "$DEMO/redis"
API_PORT=$(free_port)
export DATABASE_URL="sqlite://$DEMO/ai-video.db?mode=rwc"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export STORAGE_DIR="$DEMO/media"
export WORK_DIR="$DEMO/work"
export JWT_SECRET="demo-secret-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
export BIND_ADDR="127.0.0.1:$API_PORT"
export METRICS_ADDR="127.0.0.1:$(free_port)"
export RUST_LOG="${RUST_LOG:-warn}"

"$BIN/ai-video-api" >"$DEMO/api.log" 2>&1 &
PIDS+=($!)
wait_for_port "$API_PORT" 60 || { cat "$DEMO/api.log" >&2; die "the API did not start"; }
"$BIN/ai-video-worker" >"$DEMO/worker.log" 2>&1 &
PIDS+=($!)
log "API on http://127.0.0.1:$API_PORT (Swagger UI at /api/ai-video/docs/), worker running"

TOKEN=$("$BIN/ai-video-api" token demo-user)
ADMIN=$("$BIN/ai-video-api" token demo-admin --admin)
printf '%s\n' "$ADMIN" >"$DEMO/admin-token"
chmod 600 "$DEMO/admin-token"
log "admin panel: http://127.0.0.1:$API_PORT/admin/ai_video/ (sign in with the token in $DEMO/admin-token)"
IMAGE_PROVIDER=${DEMO_IMAGE_PROVIDER:-local}
VIDEO_PROVIDER=${DEMO_VIDEO_PROVIDER:-local}
API="http://127.0.0.1:$API_PORT/api/ai-video"
# The client reads where the API is and who asks from these.
export AI_VIDEO_URL="$API" AI_VIDEO_TOKEN="$TOKEN"
CLI="$BIN/ai-video"

# Provider settings are an admin's business, which the client leaves to curl.
if [ -n "${DEMO_PROVIDER_SETTINGS:-}" ]; then
  for provider in $(jq -r 'keys[]' <<<"$DEMO_PROVIDER_SETTINGS"); do
    curl -sS --fail-with-body -X PATCH "$API/providers/$provider/" -H "Authorization: Bearer $ADMIN" \
      -H 'content-type: application/json' \
      -d "$(jq -c --arg p "$provider" '{settings: .[$p]}' <<<"$DEMO_PROVIDER_SETTINGS")" >/dev/null
  done
fi

STORY=$("$CLI" create --title "The Lighthouse Keeper" \
  --synopsis "An old keeper climbs the spiral stairs at dusk. A storm rolls in from the sea. Waves crash against the rocks below. The lamp flickers but holds. Dawn breaks over calm water." \
  --duration 35 --aspect-ratio 16:9 --style cinematic \
  --image-provider "$IMAGE_PROVIDER" --video-provider "$VIDEO_PROVIDER")
log "story $STORY created (35 s, 16:9; images: $IMAGE_PROVIDER, video: $VIDEO_PROVIDER)"

# A music bed the demo makes itself: two soft chords, twelve seconds, looped under
# the narration and ducked while it speaks.
ffmpeg -v error -y -f lavfi -i 'sine=frequency=196:duration=12' -f lavfi -i 'sine=frequency=247:duration=12' \
  -f lavfi -i 'sine=frequency=294:duration=12' \
  -filter_complex 'amix=inputs=3,volume=0.5,afade=t=in:d=1,afade=t=out:st=11:d=1' \
  -c:a libvorbis "$DEMO/bed.ogg"
"$CLI" music "$STORY" "$DEMO/bed.ogg" >/dev/null
log "music bed uploaded (12 s, Ogg Vorbis, checked by the API with ffprobe)"

# Each step waits with progress bars on a terminal (a line per change elsewhere)
# and exits non-zero if the story fails.
log "planning"
"$CLI" plan "$STORY" --wait

log "preview (low resolution)"
"$CLI" preview "$STORY" --wait

log "final render (H.264, 1280x720)"
"$CLI" render "$STORY" --wait

"$CLI" download "$STORY" -o "$DEMO/film.mp4"
FINAL="$DEMO/film.mp4"
SECONDS_LONG=$(ffprobe -v error -show_entries format=duration -of default=nw=1:nk=1 "$FINAL")
DONE=$("$CLI" status "$STORY" --json)
URL="http://127.0.0.1:$API_PORT$(jq -r .final_url <<<"$DONE")"
echo
log "done: a ${SECONDS_LONG%.*} s video, costing $(jq -r .actual_cost <<<"$DONE")"
echo "  file: $FINAL"
echo "  url:  $URL (served while the demo runs)"
echo "  preview: $STORAGE_DIR/stories/$STORY/preview.mp4"
VOICE=$(ffprobe -v error -select_streams a:0 -show_entries stream=codec_name,sample_rate,duration \
  -of default=nw=1:nk=1 "$FINAL" | paste -sd' ')
CUES=$(grep -c -- '-->' "$STORAGE_DIR/stories/$STORY/final.vtt" || true)
echo "  sound: ${VOICE:-none} (codec, Hz, seconds): narrated by espeak-ng over the music bed, -16 LUFS"
echo "  subtitles: $CUES captions burned in, and beside it as final.vtt and final.srt"
[ -n "$VOICE" ] && [ "$CUES" -gt 0 ] || die "the final video has no voice track or no captions"
if [ -n "${DEMO_STAY:-}" ]; then
  log "DEMO_STAY is set: the API, the worker and the admin panel stay up; Ctrl-C stops them"
  wait "${PIDS[0]}"
fi
