#!/usr/bin/env bash
# A/B of two `renkei` release binaries under `renkei loadtest --spawn`, run alternately so that
# both see the same machine (figures in docs/PERFORMANCE.md come from this).
#
#   bash crates/loadtest/ab.sh BASE_BIN NEW_BIN [ROUNDS] [EXTRA_NEW_ARGS...]
#
# Per round: SQLite unthrottled (base, new with --seal-each when it knows the flag, new); then
# once each: SQLite --rate 100, and PostgreSQL (a fresh schema per run on
# $RENKEI_TEST_POSTGRES_URL) unthrottled and at --rate 100. Each run: 20 offices, 5–200 KB,
# 15 s, data in a fresh directory under ${AB_DIR:-/tmp}. Prints one JSON line per run, labelled.
set -euo pipefail
base=${1:?base binary}
new=${2:?new binary}
rounds=${3:-2}
shift $(( $# < 3 ? $# : 3 ))
pg=${RENKEI_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
dir=${AB_DIR:-/tmp}

run() {
  local bin=$1 label=$2; shift 2
  local d; d=$(mktemp -d "$dir/renkei-ab-XXXX")
  local line
  line=$("$bin" loadtest --spawn --offices 20 --seconds 15 "$@" --data-dir "$d" 2>/dev/null | tail -1) || true
  echo "$label $line"
  rm -rf "$d"
}
pg_url() {
  local s="renkei_ab_$1_$RANDOM$RANDOM"
  psql -q "$pg" -c "CREATE SCHEMA $s" >/dev/null
  local sep='?'; [[ $pg == *\?* ]] && sep='&'
  echo "$pg${sep}options=-csearch_path%3D$s"
}
seal_each=()
"$new" loadtest --help | grep -q -- '--seal-each' && seal_each=(--seal-each)

for _ in $(seq "$rounds"); do
  run "$base" sqlite-base
  [[ ${#seal_each[@]} -gt 0 ]] && run "$new" sqlite-new-seal-each "${seal_each[@]}" "$@"
  run "$new" sqlite-new "$@"
done
run "$base" sqlite-r100-base --rate 100
[[ ${#seal_each[@]} -gt 0 ]] && run "$new" sqlite-r100-new-seal-each --rate 100 "${seal_each[@]}" "$@"
run "$new" sqlite-r100-new --rate 100 "$@"
for v in base new; do
  bin=$base; [[ $v == new ]] && bin=$new
  run "$bin" "pg-$v" --database-url "$(pg_url "$v")"
  run "$bin" "pg-r100-$v" --rate 100 --database-url "$(pg_url "$v")"
done
