#!/bin/sh
# bench/run.sh: the benchmarks behind `make bench`.
#
#   sh bench/run.sh [BUILD_DIR]        (default: build)
#
# Generated dumps are cached outside the repository, in $BENCH_CACHE
# (default ${TMPDIR:-/tmp}/trajstore-bench), and made once per size; the
# store files of a run go there too (so on the same file system as the
# dumps, in a directory of the run's own that is removed at exit: say which
# file system it is, a tmpfs flatters every figure). JSON lines of the last
# run are kept in $BENCH_CACHE/last/.
#
# Environment:
#   BENCH_RECORDS  records in the dump (default 10000, ~40 MB; 100000: ~400 MB)
#   BENCH_REPS     repetitions of each measurement (default 5)
#   BENCH_CACHE    where dumps, stores and results go
#
# Each section is a function named bench_<what>_section, called from main at
# the bottom; to add one, write the function and add its call there. A
# section gets the dump's path in $BENCH_FILE, puts temporary files under
# $BENCH_WORK (removed at exit) and writes its JSON lines to
# $BENCH_OUT/<what>.jsonl.
set -eu

BUILD=${1:-build}
BENCH_RECORDS=${BENCH_RECORDS:-10000}
BENCH_REPS=${BENCH_REPS:-5}
BENCH_CACHE=${BENCH_CACHE:-${TMPDIR:-/tmp}/trajstore-bench}
BENCH_OUT=$BENCH_CACHE/last
BENCH_FILE=
BENCH_WORK=

# s_die MESSAGE: stops the run.
s_die () {
    echo "bench: $*" >&2
    exit 1
}

# s_field FILE CASE FIELD: a numeric field of the JSON line of one case.
s_field () {
    grep "\"case\":\"$2\"" "$1" | head -n 1 | sed -n "s/.*\"$3\":\([0-9.e+-]*\).*/\1/p"
}

# s_ratio A B: A / B with two decimals, or "n/a".
s_ratio () {
    awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

# s_cleanup: removes the run's store directory (a killed benchmark leaves
# hundreds of MB of shard files behind).
s_cleanup () {
    [ -z "$BENCH_WORK" ] || rm -rf "$BENCH_WORK"
}

# bench_setup: checks the build, makes the dump when missing, says where
# and on what the run happens (the machine is shared and noisy: the load
# average is part of the result).
bench_setup () {
    [ -x "$BUILD/tools/trajstore-gen" ] || s_die "no $BUILD/tools/trajstore-gen: build first (make build)"
    mkdir -p "$BENCH_CACHE" "$BENCH_OUT"
    # a directory of this run's own: two runs sharing the cache never
    # remove each other's stores
    BENCH_WORK=$(mktemp -d "$BENCH_CACHE/run.XXXXXX")
    trap s_cleanup EXIT
    trap 'exit 130' INT TERM
    BENCH_FILE=$BENCH_CACHE/gen-$BENCH_RECORDS.jsonl
    if [ ! -s "$BENCH_FILE" ]; then
        echo "bench: generating $BENCH_RECORDS records into $BENCH_FILE"
        # to a temporary name first: an interrupted run leaves no short dump
        "$BUILD/tools/trajstore-gen" --records "$BENCH_RECORDS" --seed 1 --out "$BENCH_FILE.tmp"
        mv "$BENCH_FILE.tmp" "$BENCH_FILE"
    fi
    fs=$(df -PT "$BENCH_CACHE" | awk 'NR == 2 { print $2 }')
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    echo "# dump $BENCH_FILE ($(wc -c < "$BENCH_FILE") bytes), stores on $fs"
    echo "# $(nproc) cores, $cpu; load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

# bench_core_section: lines -> records -> shard(s) on one core (bench_core),
# then the same dump into SQLite (bench_sqlite), and the ratio.
bench_core_section () {
    core=$BUILD/bench/bench_core
    lite=$BUILD/bench/bench_sqlite
    [ -x "$core" ] || s_die "no $core: build first (make build)"
    out=$BENCH_OUT/core.jsonl
    : > "$out"
    echo
    echo "== core: single core, MB/s of input JSON (MB = 10^6 bytes), best and median of $BENCH_REPS"
    # the table comes on stderr, the JSON lines on stdout
    "$core" "$BENCH_FILE" --reps "$BENCH_REPS" --dir "$BENCH_WORK" --json 2>&1 >> "$out"
    if [ ! -x "$lite" ]; then
        echo "bench: no $lite (sqlite3 missing at build time): no ratio"
        return 0
    fi
    echo
    echo "== SQLite: the same dump, one table + 2 indexes, WAL, synchronous=NORMAL"
    # SQLite's most favourable wiring is not obvious in advance: json_extract
    # or our parser for the columns, the default page size or the largest;
    # run them all (one transaction each) and compare with the fastest
    for extract in sql parser; do
        for page in 4096 65536; do
            "$lite" "$BENCH_FILE" --reps "$BENCH_REPS" --dir "$BENCH_WORK" --json \
                --extract "$extract" --page-size "$page" 2>&1 >> "$out"
        done
    done
    best_lite=$(grep '"bench":"sqlite"' "$out" | grep '"commit_rows":0,' \
        | sed -n 's/.*"extract":"\([a-z]*\)".*"page_size":\([0-9]*\).*"mb_s":\([0-9.]*\),"mb_s_median":\([0-9.]*\).*/\4 \3 \1 \2/p' \
        | sort -n -r | head -n 1)
    [ -n "$best_lite" ] || s_die "no SQLite figures in $out"
    set -- $best_lite
    lite_med=$1 lite_best=$2 lite_extract=$3 lite_page=$4
    # the fastest wiring once more, committing every TS_COMMIT_RECORDS rows
    # as trajstore does: the price of the same durability
    "$lite" "$BENCH_FILE" --reps "$BENCH_REPS" --dir "$BENCH_WORK" --json \
        --extract "$lite_extract" --page-size "$lite_page" --commit-rows 1000 2>&1 >> "$out"
    lite_tx_med=$(grep '"commit_rows":1000,' "$out" | sed -n 's/.*"mb_s_median":\([0-9.]*\).*/\1/p')
    # trajstore's figures include closing the stores; SQLite's close is its
    # WAL checkpoint into the database file: compare those too
    lite_close=$(grep '"bench":"sqlite"' "$out" | grep '"commit_rows":0,' \
        | grep "\"extract\":\"$lite_extract\"" | grep "\"page_size\":$lite_page," \
        | sed -n 's/.*"bytes":\([0-9]*\).*"close_median_s":\([0-9.]*\).*/\1 \2/p' \
        | awk '{ if ($2 > 0) printf "%.1f", $1 / $2 / 1e6 }')
    ts_med=$(s_field "$out" store1 mb_s_median)
    ts_best=$(s_field "$out" store1 mb_s)
    ts16_med=$(s_field "$out" store16 mb_s_median)
    echo
    echo "== ratio: trajstore parse + encode + commit MB/s / SQLite MB/s"
    echo "   (fastest SQLite: --extract $lite_extract --page-size $lite_page, one transaction)"
    echo "   1 shard:   median $ts_med / $lite_med = $(s_ratio "$ts_med" "$lite_med")x," \
         "best $ts_best / $lite_best = $(s_ratio "$ts_best" "$lite_best")x"
    echo "   16 shards: median $ts16_med / $lite_med = $(s_ratio "$ts16_med" "$lite_med")x"
    echo "   1 shard vs SQLite committing every 1000 rows: median $ts_med / $lite_tx_med" \
         "= $(s_ratio "$ts_med" "$lite_tx_med")x"
    echo "   1 shard vs SQLite to close (both include the close): median $ts_med / $lite_close" \
         "= $(s_ratio "$ts_med" "$lite_close")x"
    echo "   (JSON lines: $out)"
}

main () {
    bench_setup
    bench_core_section
}

main
