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
#   BENCH_SECTIONS the sections to run, in order (default "core import query")
#   BENCH_RECORDS  records in the dump of the core section (default 10000,
#                  ~40 MB; 100000: ~400 MB)
#   BENCH_REPS     repetitions of each measurement (default 5 for core; 3 for
#                  import and query, unless given)
#   BENCH_CACHE    where dumps, stores and results go
#   BENCH_COMPRESS the stacks' `up --compress` (default small, the
#                  product's default; none: records stored as they are)
#   import section (trajstore up --workers 2, the producer, trajstore down;
#   bench_sqlite on the same dump, interleaved):
#   BENCH_IMPORT_SIZES  record counts (default "10000"; BENCH_REPS runs at
#                  10000 and below, one run above)
#   BENCH_IMPORT_ORDERS the dumps' orders (default "ordered random":
#                  trajstore-gen --order; each size in each order)
#   BENCH_DUCKDB_DIR    where `npm install @duckdb/node-api` was run (default
#                  $BENCH_CACHE/duckdb); when it holds the package, DuckDB
#                  imports the same dumps too (bench/duckdb_import.mjs)
#   BENCH_SQLITE_MAX    no SQLite import above this many records (default:
#                  none; 1000000 leaves a 10 GB run, 2500000, to trajstore:
#                  SQLite's 4 KiB import of it would take ~8 minutes)
#   query section (bench_query, a client over ZeroMQ, and bench_sqlite_query
#   on bench_sqlite's database of the same dump, interleaved; bench_floor,
#   the same round trips over bare libzmq, the transport's floor):
#   BENCH_QUERY_SIZES   record counts (default "10000")
#   BENCH_QUERY_N       requests of each kind, one at a time (default 2000;
#                  at most 5 s of them per kind)
#   BENCH_QUERY_CLIENTS / BENCH_QUERY_SECONDS  the concurrent mix (20, 10)
#   BENCH_SQLITE_COVERING  1 (default): SQLite's group index covers the
#                  summary columns (its favourable wiring); 0: a plain one
#   search section (not in the default list; full-text search, issue #15):
#   BENCH_SEARCH_SIZES  record counts (default "10000 100000")
#   BENCH_SEARCH_N      requests of each query (default 50)
#   first section (not in the default list: it drops the OS page cache,
#   which needs root; without it the figures are warm and say so): the
#   first get, one-group list and stats + every group after `trajstore up`
#   on a store of BENCH_FIRST_SIZES records, each from a fresh start with
#   the page cache dropped, by a Python client (bench/bench_first.py), side
#   by side with SQLite opened cold by the same kind of client:
#   BENCH_FIRST_SIZES   record counts (default "100000")
#   clients section (not in the default list): BENCH_QUERY_CLIENTS Python
#   client processes (python3-zmq + msgpack, one REQ socket each) for
#   BENCH_QUERY_SECONDS, get and one-group list alternating, against the
#   same with SQLite in each process, bench_query's C clients and
#   bench_floor's two bare hops, interleaved; the stack's CPU per request:
#   BENCH_CLIENTS_SIZE  records in the store (default 100000)
#   import readers: during an import of 100000 records or more,
#   BENCH_IMPORT_READERS Python clients (default 4; 0: none) ask gets and
#   one-group lists; their p99 is printed with the import's row
#   http section (not in the default list; bench/http_bench.py: a page of 100
#   summaries through the HTTP gateway and straight over ZeroMQ, and a 2 MB
#   trajectory's first render in headless Chromium):
#   BENCH_HTTP_RECORDS  records in the store (default 100000)
#
# Each section is a function named bench_<what>_section, run by main at the
# bottom for each name in $BENCH_SECTIONS; to add one, write the function and
# add its name to BENCH_SECTIONS's default and to main's list of known
# sections. A section gets the dump's path in $BENCH_FILE (or makes dumps
# of its own sizes with s_dump), puts temporary files under $BENCH_WORK
# (removed at exit; stacks it started with s_up are stopped first) and
# writes its JSON lines to $BENCH_OUT/<what>.jsonl.
#
#   BENCH_SECTIONS="import query" BENCH_IMPORT_SIZES="10000 100000" \
#   BENCH_QUERY_SIZES="10000 100000" sh bench/run.sh build
#   BENCH_SECTIONS="first clients" sh bench/run.sh build
set -eu

BUILD=${1:-build}
BENCH_SECTIONS=${BENCH_SECTIONS:-core import query}
BENCH_COMPRESS=${BENCH_COMPRESS:-small}
BENCH_RECORDS=${BENCH_RECORDS:-10000}
# import and query repeat 3 times unless told otherwise (each repetition
# restarts a stack or runs for seconds)
BENCH_REPS_SLOW=${BENCH_REPS:-3}
BENCH_REPS=${BENCH_REPS:-5}
BENCH_IMPORT_SIZES=${BENCH_IMPORT_SIZES:-10000}
BENCH_QUERY_SIZES=${BENCH_QUERY_SIZES:-10000}
BENCH_QUERY_N=${BENCH_QUERY_N:-2000}
BENCH_QUERY_CLIENTS=${BENCH_QUERY_CLIENTS:-20}
BENCH_QUERY_SECONDS=${BENCH_QUERY_SECONDS:-10}
BENCH_SQLITE_COVERING=${BENCH_SQLITE_COVERING:-1}
BENCH_FIRST_SIZES=${BENCH_FIRST_SIZES:-100000}
BENCH_CLIENTS_SIZE=${BENCH_CLIENTS_SIZE:-100000}
BENCH_IMPORT_READERS=${BENCH_IMPORT_READERS:-4}
BENCH_PY=${BENCH_PY:-/usr/bin/python3}
BENCH_CACHE=${BENCH_CACHE:-${TMPDIR:-/tmp}/trajstore-bench}
BENCH_OUT=$BENCH_CACHE/last
BENCH_FILE=
BENCH_WORK=
BENCH_STACKS=                   # data directories of stacks this run started

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
    # the stacks this run started first (their shard files are in there)
    for d in $BENCH_STACKS; do
        "$BUILD/tools/trajstore" down --data "$d" > /dev/null 2>&1 || true
    done
    [ -z "$BENCH_WORK" ] || rm -rf "$BENCH_WORK"
}

# s_median: the median of the numbers on stdin, one a line ("" for none).
s_median () {
    sort -g | awk '{ v [NR] = $1 }
        END { if (NR == 0) print ""; else if (NR % 2) print v [(NR + 1) / 2];
              else printf "%.6g\n", (v [NR / 2] + v [NR / 2 + 1]) / 2 }'
}

# s_min: the smallest of the numbers on stdin; s_max: the largest.
s_min () {
    sort -g | head -n 1
}
s_max () {
    sort -g | tail -n 1
}

# s_jget FIELD: a numeric field of each JSON line on stdin.
s_jget () {
    sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p"
}

# s_fmt FORMAT VALUE: printf through awk (dash's printf has no floats
# everywhere); "-" for an empty value.
s_fmt () {
    if [ -z "$2" ]; then echo "-"; else awk -v v="$2" "BEGIN { printf \"$1\", v }"; fi
}

# s_now: seconds since the epoch, with nanoseconds.
s_now () {
    date +%s.%N
}

# s_dump RECORDS [ORDER]: the path of a generated dump of that many records
# (made once, cached; --per-group 10: 10,000 groups at 100,000 records);
# ORDER ordered (default) or random (trajstore-gen --order random: times,
# rewards and groups all over their ranges).
s_dump () {
    order=${2:-ordered}
    f=$BENCH_CACHE/gen-$1.jsonl
    [ "$order" = ordered ] || f=$BENCH_CACHE/gen-$1-$order.jsonl
    if [ ! -s "$f" ]; then
        echo "bench: generating $1 records ($order) into $f" >&2
        "$BUILD/tools/trajstore-gen" --records "$1" --per-group 10 --seed 1 --order "$order" \
            --out "$f.tmp.$$" || s_die "trajstore-gen failed"
        mv "$f.tmp.$$" "$f"
    fi
    echo "$f"
}

# s_ids RECORDS: the "ID<TAB>GROUP" list of that dump (bench_query
# --extract-ids), cached beside it.
s_ids () {
    d=$(s_dump "$1")
    f=$BENCH_CACHE/gen-$1.ids
    if [ ! -s "$f" ] || [ "$d" -nt "$f" ]; then
        "$BUILD/bench/bench_query" --extract-ids "$d" > "$f.tmp.$$" 2> /dev/null \
            || s_die "bench_query --extract-ids $d failed"
        mv "$f.tmp.$$" "$f"
    fi
    echo "$f"
}

# s_up DIR: starts a stack of 2 workers on DIR (removed at exit, stopped
# by s_cleanup should the run stop early), records compressed
# $BENCH_COMPRESS.
s_up () {
    BENCH_STACKS="$BENCH_STACKS $1"
    if ! "$BUILD/tools/trajstore" up --workers 2 --data "$1" --compress "$BENCH_COMPRESS" \
            > "$1.up.log" 2>&1; then
        cat "$1.up.log" >&2
        s_die "trajstore up --data $1 failed"
    fi
}

# s_down DIR: stops it.
s_down () {
    "$BUILD/tools/trajstore" down --data "$1" > /dev/null 2>&1 || echo "bench: trajstore down --data $1 failed" >&2
    BENCH_STACKS=$(echo "$BENCH_STACKS" | sed "s| $1\$||; s| $1 | |")
}

# s_procs DIR: "NAME PID RESTARTS" of each process of the stack on DIR,
# the supervisor first.
s_procs () {
    st=$("$BUILD/tools/trajstore" status --json --data "$1" 2> /dev/null) || true
    echo "$st" | sed -n 's/.*"supervisor":{"pid":\([0-9]*\).*/supervisor \1 0/p'
    echo "$st" | grep -o '"name":"[^"]*","pid":[0-9]*,"alive":[a-z]*,"state":"[^"]*","restarts":[0-9]*' \
        | sed 's/"name":"\([^"]*\)","pid":\([0-9]*\),.*"restarts":\([0-9]*\)/\1 \2 \3/'
}

# s_hwm PID: the peak resident set (VmHWM) of a live process, in kB.
s_hwm () {
    awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2> /dev/null || true
}

# s_sample_rss FILE NAME PID...: every 2 s until the first process ends,
# "SECONDS NAME KB" lines of each process's resident set (VmRSS) into FILE;
# NAME PID pairs. Run in the background.
s_sample_rss () {
    f=$1; shift
    first=$2 t0=$(s_now)
    : > "$f"
    while kill -0 "$first" 2> /dev/null; do
        t=$(awk -v a="$t0" -v b="$(s_now)" 'BEGIN { printf "%.1f", b - a }')
        i=1
        while [ $i -lt $# ]; do
            eval "nm=\${$i} pd=\${$((i + 1))}"
            kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pd/status" 2> /dev/null || true)
            [ -z "$kb" ] || echo "$t $nm $kb" >> "$f"
            i=$((i + 2))
        done
        sleep 2
    done
}

# s_cpu PID...: the CPU time (user + system) the processes used so far, in
# seconds (clock ticks: 10 ms on most kernels).
s_cpu () {
    hz=$(getconf CLK_TCK 2> /dev/null || echo 100)
    for p in "$@"; do
        cat "/proc/$p/stat" 2> /dev/null || true
    done | awk -v hz="$hz" '{ sub (/^.*\) /, ""); t += $12 + $13 } END { printf "%.2f\n", t / hz }'
}

# s_pid NAME PROCS: the pid of one process in s_procs's output.
s_pid () {
    echo "$2" | awk -v n="$1" '$1 == n { print $2 }'
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

# bench_import_section: the whole import of a dump by a running stack
# (trajstore up --workers 2 on a fresh data directory, the producer's wall
# time from its start to its report, trajstore down), side by side with
# SQLite importing the same file in the same run (bench_sqlite, the
# realistic wiring: json_extract columns + raw JSON, indexes on id, data_id
# and reward, one transaction), the two interleaved (alternating which goes
# first). The peak memory (VmHWM) of every process of the stack is read
# just before `down`; the producer's and SQLite's from GNU time (ru_maxrss).
bench_import_section () {
    prod=$BUILD/producer/trajstore-producer
    lite=$BUILD/bench/bench_sqlite
    [ -x "$prod" ] || s_die "no $prod: build first (make build)"
    [ -x "$lite" ] || echo "bench: no $lite (sqlite3 missing at build time): no SQLite side"
    timer=
    if [ -x /usr/bin/time ] && /usr/bin/time -f %M -o /dev/null true 2> /dev/null; then
        timer=/usr/bin/time
    else
        echo "bench: no GNU time (/usr/bin/time): no peak memory for the producer and SQLite"
    fi
    duck=${BENCH_DUCKDB_DIR:-$BENCH_CACHE/duckdb}
    if [ ! -d "$duck/node_modules/@duckdb/node-api" ] || ! command -v node > /dev/null; then
        echo "bench: no DuckDB side (npm install @duckdb/node-api in $duck, and node, to have one)"
        duck=
    fi
    out=$BENCH_OUT/import.jsonl
    rows=$BENCH_WORK/import.rows
    target_line=
    rm -f "$BENCH_OUT"/import-*.producer.log
    : > "$out"
    : > "$rows"
    echo
    echo "== import: trajstore up --workers 2 + trajstore-producer (wall time, start to report)"
    echo "   vs bench_sqlite (json_extract + raw, indexes on id, data_id, reward, 1 tx; 4 and 64 KiB pages), interleaved"
    for order in ${BENCH_IMPORT_ORDERS:-ordered random}; do
    for n in $BENCH_IMPORT_SIZES; do
        dump=$(s_dump "$n" "$order")
        bytes=$(wc -c < "$dump")
        cat "$dump" > /dev/null          # both read it from the page cache
        reps=$BENCH_REPS_SLOW
        [ "$n" -le 10000 ] || reps=1
        r=1
        while [ "$r" -le "$reps" ]; do
            if [ -n "${BENCH_SQLITE_MAX:-}" ] && [ "$n" -gt "$BENCH_SQLITE_MAX" ]; then
                s_import_trajstore
            elif [ $((r % 2)) -eq 1 ]; then
                s_import_trajstore; s_import_sqlite 4096; s_import_sqlite 65536; s_import_duckdb
            else
                s_import_duckdb; s_import_sqlite 65536; s_import_sqlite 4096; s_import_trajstore
            fi
            r=$((r + 1))
        done
        s_import_summary
    done
    done
    echo
    echo "== import: medians (best) of the runs; records/s and MB/s of the median wall time;"
    echo "   SQLite: page size 4096 (its default) and 65536 (its fastest here), time to commit;"
    echo "   close = the 64 KiB run to its close (WAL checkpoint); speed = SQLite 64 KiB s / trajstore s"
    echo "   (> 1: trajstore faster); DuckDB s = its commit (bench/duckdb_import.mjs), vs Duck = DuckDB s / trajstore s;"
    echo "   CPU s = user + system: trajstore's stack during the import + the"
    echo "   producer / SQLite 64 KiB; peak RSS in MB, the largest of the runs (SQLite: of both)"
    printf '%-8s %-9s %-5s %-17s %-9s %-9s %-7s %-9s %-17s %-9s %-7s %-9s %-7s %-13s %s\n' order records runs \
        "trajstore s" "producer" "rec/s" "MB/s" "SQLite4K" "SQLite64K s" "close" speed "DuckDB s" "vs Duck" "CPU s" \
        "RSS MB: sup agg w1 w2 api producer | SQLite"
    cat "$rows"
    # the import rate at each size over the smallest's, per order (target:
    # the largest at >= 80% of the 100k rate)
    awk '{ rate = $2 / $4; if (!($1 in r0)) { r0 [$1] = rate; n0 [$1] = $2 }
           else printf "   %s: rate at %s records / at %s: %.0f%%\n", $1, $2, n0 [$1], 100 * rate / r0 [$1] }' "$rows"
    # flat memory, per order: every process's peak at the largest size over
    # the smallest, and over the size before it
    for order in ${BENCH_IMPORT_ORDERS:-ordered random}; do
    orows=$(grep "^$order " "$rows" || true)
    [ -n "$orows" ] || continue
    last=$(echo "$orows" | tail -n 1) shown=
    for other in "$(echo "$orows" | head -n 1)" "$(echo "$orows" | tail -n 2 | head -n 1)"; do
        [ "$other" != "$last" ] && [ "$other" != "$shown" ] || continue
        shown=$other
        echo "$other
$last" | awk '{ n = split ($0, f, " ");   # the last 8 fields: the RSS columns
                if (NR == 1) { for (k = 1; k <= 8; k++) a [k] = f [n - 8 + k]; r0 = f [2] }
                else { printf "   %s: peak RSS at %s records / at %s:", f [1], f [2], r0;
                       split ("sup agg w1 w2 api producer | SQLite", names, " ");
                       for (k = 1; k <= 8; k++) { v = f [n - 8 + k]; if (v == "|") { printf " |"; continue }
                           if (a [k] + 0 > 0 && v + 0 > 0) printf " %s %.2fx", names [k], v / a [k] } print "" } }'
    done
    done
    if [ -n "$target_line" ]; then
        echo "   $target_line"
    fi
    echo "   (JSON lines: $out)"
}

# s_import_trajstore: one import of $dump ($n records) into a fresh stack.
s_import_trajstore () {
    d=$BENCH_WORK/i$order-$n-$r
    plog=$BENCH_OUT/import-$order-$n-$r.producer.log
    s_up "$d"
    procs=$(s_procs "$d")
    pids=$(echo "$procs" | awk '$1 != "supervisor" { print $2 }')
    c0=$(s_cpu $pids)
    s_sample_rss "$BENCH_OUT/import-$order-$n-$r.rss" $(echo "$procs" | awk '$1 != "supervisor" { print $1, $2 }') &
    sampler=$!
    # readers during the import: gets and one-group lists of the dump's ids
    # (a record not stored yet is an answer too) until the producer ends
    readers=
    if [ "$n" -ge 100000 ] && [ "$BENCH_IMPORT_READERS" -gt 0 ] && s_pyok; then
        rm -f "$d.stop"
        "$BENCH_PY" "$(dirname "$0")/bench_first.py" clients --api "ipc://$d/api.sock" \
            --ids "$(s_ids "$n")" --clients "$BENCH_IMPORT_READERS" --stop-file "$d.stop" --missing-ok \
            > "$d.readers" 2> "$d.readers.log" &
        readers=$!
    fi
    prc=0
    t0=$(s_now)
    if [ -n "$timer" ]; then
        "$timer" -f '%M %U %S' -o "$d.rss" "$prod" --data "$d" --json --quiet "$dump" > "$d.report" \
            2> "$plog" || prc=$?
    else
        "$prod" --data "$d" --json --quiet "$dump" > "$d.report" 2> "$plog" || prc=$?
    fi
    t1=$(s_now)
    rjson=
    if [ -n "$readers" ]; then
        touch "$d.stop"
        wait "$readers" || echo "bench: the readers during the import failed: $(cat "$d.readers.log")" >&2
        rjson=$(sed -n 's/.*"n": \([0-9]*\).*"rps": \([0-9.]*\), "p50_ms": \([0-9.]*\), "p99_ms": \([0-9.]*\), "errors": \([0-9]*\).*/,"readers":'"$BENCH_IMPORT_READERS"',"readers_n":\1,"readers_rps":\2,"readers_p50_ms":\3,"readers_p99_ms":\4,"readers_errors":\5/p' "$d.readers")
    fi
    c1=$(s_cpu $pids)
    procs=$(s_procs "$d")
    rss=
    for name in supervisor aggregator w1 w2 api; do
        pid=$(s_pid "$name" "$procs")
        kb=
        [ -z "$pid" ] || kb=$(s_hwm "$pid")
        rss="$rss,\"rss_${name}_kb\":${kb:-0}"
    done
    restarts=$(echo "$procs" | awk '{ s += $3 } END { print s + 0 }')
    s_down "$d"
    # the store's size: every shard's tree, its log and its records file
    store=$(du -sb "$d/shards" | cut -f1)
    wait "$sampler" 2> /dev/null || true     # it ends with the aggregator
    imported=$(s_jget imported < "$d.report")
    if [ "$prc" -ne 0 ] || [ "${imported:-0}" -ne "$n" ]; then
        cat "$d.report" >&2
        s_die "the producer exited $prc, imported ${imported:-nothing} of $n records (logs: $d/logs)"
    fi
    if [ "$restarts" -ne 0 ]; then
        cp -r "$d/logs" "$BENCH_OUT/logs-import-$order-$n-$r" 2> /dev/null || true
        echo "bench: $restarts process restarts during the import of $n records ($order; logs: $BENCH_OUT/logs-import-$order-$n-$r)" >&2
    fi
    # the producer's warnings: resent chunks (not acknowledged in time),
    # stretches without any acknowledgement
    resends=$(grep -c 'resent' "$plog" || true)
    silences=$(grep -c 'no answer from the aggregator' "$plog" || true)
    pkb=0 pcpu=0
    if [ -n "$timer" ]; then
        set -- $(tail -n 1 "$d.rss")
        pkb=$1 pcpu=$(awk -v u="$2" -v s="$3" 'BEGIN { printf "%.2f", u + s }')
    fi
    secs=$(s_jget seconds < "$d.report")
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
    scpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')
    echo "{\"bench\":\"import\",\"system\":\"trajstore\",\"order\":\"$order\",\"records\":$n,\"rep\":$r,\"bytes\":$bytes,\"wall_s\":$wall,\"producer_s\":$secs,\"stack_cpu_s\":$scpu,\"producer_cpu_s\":$pcpu,\"restarts\":$restarts,\"store_bytes\":$store,\"compress\":\"$BENCH_COMPRESS\",\"resend_warnings\":$resends,\"silence_warnings\":$silences$rss$rjson,\"rss_producer_kb\":$pkb,\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\"}" >> "$out"
    rm -rf "$d"
}

# s_import_sqlite PAGE_SIZE: one import of $dump into a new SQLite
# database with that page size (4096, SQLite's default; 65536, its fastest
# for these ~4 KB rows: a row then never spills into overflow pages).
s_import_sqlite () {
    [ -x "$lite" ] || return 0
    psz=$1
    f=$BENCH_WORK/lite-$order-$n-$r-$psz
    lrc=0
    if [ -n "$timer" ]; then
        "$timer" -f '%M %U %S' -o "$f.rss" "$lite" "$dump" --reps 1 --json --dir "$BENCH_WORK" \
            --page-size "$psz" > "$f.json" 2> /dev/null || lrc=$?
    else
        "$lite" "$dump" --reps 1 --json --dir "$BENCH_WORK" --page-size "$psz" > "$f.json" 2> /dev/null || lrc=$?
    fi
    [ "$lrc" -eq 0 ] || s_die "bench_sqlite $dump failed"
    kb=0 lcpu=0
    if [ -n "$timer" ]; then
        set -- $(tail -n 1 "$f.rss")
        kb=$1 lcpu=$(awk -v u="$2" -v s="$3" 'BEGIN { printf "%.2f", u + s }')
    fi
    commit=$(s_jget best_s < "$f.json")
    close=$(s_jget close_best_s < "$f.json")
    echo "{\"bench\":\"import\",\"system\":\"sqlite\",\"order\":\"$order\",\"records\":$n,\"rep\":$r,\"page_size\":$psz,\"bytes\":$bytes,\"commit_s\":$commit,\"close_s\":$close,\"cpu_s\":$lcpu,\"rss_kb\":$kb,\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\"}" >> "$out"
}

# s_import_duckdb: one import of $dump into a new DuckDB database
# (bench/duckdb_import.mjs: the raw JSON and extracted columns, indexes on
# id, data_id and reward, one transaction; commit and checkpoint times).
s_import_duckdb () {
    [ -n "$duck" ] || return 0
    [ -z "${BENCH_SQLITE_MAX:-}" ] || [ "$n" -le "$BENCH_SQLITE_MAX" ] || return 0
    f=$BENCH_WORK/duck-$order-$n-$r
    DUCKDB_DIR=$duck node "$(dirname "$0")/duckdb_import.mjs" "$dump" "$BENCH_WORK" > "$f.json" 2> "$f.err" \
        || s_die "duckdb_import.mjs $dump failed: $(tail -n 3 "$f.err")"
    echo "{\"bench\":\"import\",\"system\":\"duckdb\",\"order\":\"$order\",\"records\":$n,\"rep\":$r,\"bytes\":$bytes,\"commit_s\":$(s_jget commit_s < "$f.json"),\"close_s\":$(s_jget close_s < "$f.json"),\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\"}" >> "$out"
}

# s_import_summary: the row of size $n.
s_import_summary () {
    ts=$(grep '"system":"trajstore"' "$out" | grep "\"order\":\"$order\",\"records\":$n,")
    li4=$(grep '"system":"sqlite"' "$out" | grep "\"order\":\"$order\",\"records\":$n," | grep '"page_size":4096,' || true)
    li=$(grep '"system":"sqlite"' "$out" | grep "\"order\":\"$order\",\"records\":$n," | grep '"page_size":65536,' || true)
    dk=$(grep '"system":"duckdb"' "$out" | grep "\"order\":\"$order\",\"records\":$n," || true)
    duck_med=$(echo "$dk" | s_jget commit_s | s_median)
    lite4_med=$(echo "$li4" | s_jget commit_s | s_median)
    wall_med=$(echo "$ts" | s_jget wall_s | s_median)
    wall_best=$(echo "$ts" | s_jget wall_s | s_min)
    prod_med=$(echo "$ts" | s_jget producer_s | s_median)
    lite_med=$(echo "$li" | s_jget commit_s | s_median)
    lite_best=$(echo "$li" | s_jget commit_s | s_min)
    close_med=$(echo "$li" | s_jget close_s | s_median)
    # CPU time: the stack's during the import plus the producer's; SQLite's
    cpu_med=$(echo "$ts" | sed 's/.*"stack_cpu_s":\([0-9.]*\),"producer_cpu_s":\([0-9.]*\).*/\1 \2/' \
        | awk '{ print $1 + $2 }' | s_median)
    lcpu_med=$(echo "$li" | s_jget cpu_s | s_median)
    mb=
    for name in supervisor aggregator w1 w2 api producer; do
        mb="$mb $(echo "$ts" | s_jget "rss_${name}_kb" | s_max | awk '{ printf "%.0f", $1 / 1024 }')"
    done
    lmb=$(printf '%s\n%s\n' "$li" "$li4" | s_jget rss_kb | s_max | awk '{ printf "%.0f", $1 / 1024 }')
    row=$(awk -v order="$order" -v n="$n" -v reps="$reps" -v wm="$wall_med" -v wb="$wall_best" -v pm="$prod_med" \
              -v lm="${lite_med:-0}" -v lb="${lite_best:-0}" -v cm="${close_med:-0}" -v bytes="$bytes" \
              -v mb="$mb" -v lmb="${lmb:--}" -v cpu="${cpu_med:-0}" -v lcpu="${lcpu_med:-0}" \
              -v l4="${lite4_med:-0}" -v dm="${duck_med:-0}" 'BEGIN {
        printf "%-8s %-9s %-5s %-17s %-9s %-9.0f %-7.1f ", order, n, reps, sprintf ("%.3f (%.3f)", wm, wb),
               sprintf ("%.3f", pm), n / wm, bytes / 1e6 / wm
        if (lm > 0) printf "%-9s %-17s %-9s %-7s", sprintf ("%.3f", l4), sprintf ("%.3f (%.3f)", lm, lb),
                           sprintf ("%.3f", cm), sprintf ("%.2fx", lm / wm)
        else printf "%-9s %-17s %-9s %-7s", "-", "-", "-", "-"
        if (dm > 0) printf " %-9s %-7s", sprintf ("%.3f", dm), sprintf ("%.2fx", dm / wm)
        else printf " %-9s %-7s", "-", "-"
        printf " %-13s", sprintf ("%.2f/%.2f", cpu, lcpu)
        printf " %s | %s\n", mb, lmb }')
    echo "$row" >> "$rows"
    resends=$(echo "$ts" | s_jget resend_warnings | awk '{ t += $1 } END { print t + 0 }')
    silences=$(echo "$ts" | s_jget silence_warnings | awk '{ t += $1 } END { print t + 0 }')
    loads=$(echo "$ts" | sed -n 's/.*"load":"\([0-9.]*\)".*/\1/p' | tr '\n' ' ')
    store_med=$(echo "$ts" | s_jget store_bytes | s_median)
    echo "   $n records ($order): store $(s_fmt %.0f "$store_med") bytes = $(s_ratio "$store_med" "$bytes")x" \
         "the dump's $bytes (--compress $BENCH_COMPRESS; target <= 0.35x)"
    echo "   $n records ($order): trajstore $(s_fmt %.3f "$wall_med") s median of $reps," \
         "SQLite $(s_fmt %.3f "$lite4_med") s (4 KiB pages), $(s_fmt %.3f "$lite_med") s (64 KiB); producer warnings over the runs: $resends resends," \
         "$silences silences of 3 s+ (logs: $BENCH_OUT/import-$order-$n-*.producer.log); load average: $loads"
    # reads during the import (the first run of this size)
    rd=$(echo "$ts" | grep '"readers":' | head -n 1)
    if [ -n "$rd" ]; then
        echo "   $n records: $(echo "$rd" | s_jget readers) Python clients reading during the import (get and" \
             "one-group list alternating): $(echo "$rd" | s_jget readers_n) answers," \
             "p50 $(echo "$rd" | s_jget readers_p50_ms) ms, p99 $(echo "$rd" | s_jget readers_p99_ms) ms" \
             "(target p99 <= 20 ms: $(awk -v p="$(echo "$rd" | s_jget readers_p99_ms)" 'BEGIN { print (p <= 20 ? "met" : "MISSED") }')), errors $(echo "$rd" | s_jget readers_errors)"
    fi
    # flat memory within the run: the workers' resident sets over its two
    # halves (a plateau: the second half no higher than the first)
    samples=$BENCH_OUT/import-$order-$n-1.rss
    if [ -s "$samples" ] && [ "$(awk 'END { print ($1 >= 6) }' "$samples")" = 1 ]; then
        awk -v n="$n" -v f="$samples" '{ t [NR] = $1; nm [NR] = $2; kb [NR] = $3; if ($1 > end) end = $1 }
            END { for (i = 1; i <= NR; i++) { if (nm [i] !~ /^w/) continue; h = t [i] <= end / 2 ? 1 : 2;
                      if (kb [i] > m [nm [i], h]) m [nm [i], h] = kb [i]; names [nm [i]] = 1 }
                  printf "   %s records, every 2 s over %.0f s (%s): largest RSS in the first half / the second:", n, end, f
                  for (w in names) printf " %s %.0f / %.0f MB", w, m [w, 1] / 1024, m [w, 2] / 1024; print "" }' "$samples"
    fi
    if [ "$n" -eq 10000 ] && [ "$order" = ordered ]; then
        target_line=$(awk -v w="$wall_med" 'BEGIN { printf "target: 10,000 records <= 0.25 s wall: %.3f s, %s",
                      w, (w <= 0.25 ? "met" : "MISSED") }')
    fi
}

# bench_query_section: query latency over ZeroMQ (bench_query, a client in
# its own process, one request at a time, then 20 client processes) against
# a stack holding the dump, side by side with SQLite answering the same
# queries (bench_sqlite_query, prepared statements, read-only connections)
# on bench_sqlite's database of the same dump; the two interleaved, the
# medians of the runs reported. Next to them, the floor of the transport
# (bench_floor: the same round trips with nothing of trajstore, libzmq
# alone, a DEALER to an echo ROUTER, directly and through a zmq_proxy
# relay: two hops, as client -> api -> worker), at 100 and 4096 bytes.
bench_query_section () {
    prod=$BUILD/producer/trajstore-producer
    q=$BUILD/bench/bench_query
    fl=$BUILD/bench/bench_floor
    lq=$BUILD/bench/bench_sqlite_query
    lite=$BUILD/bench/bench_sqlite
    [ -x "$prod" ] || s_die "no $prod: build first (make build)"
    [ -x "$q" ] || s_die "no $q: build first (make build)"
    [ -x "$fl" ] || s_die "no $fl: build first (make build)"
    haslite=1
    if [ ! -x "$lq" ] || [ ! -x "$lite" ]; then
        echo "bench: no $lq (sqlite3 missing at build time): no SQLite side"
        haslite=
    fi
    covering=
    [ "$BENCH_SQLITE_COVERING" = 0 ] || covering=--covering-group
    out=$BENCH_OUT/query.jsonl
    log=$BENCH_OUT/query.log
    : > "$out"
    : > "$log"
    reps=$BENCH_REPS_SLOW
    echo
    echo "== query: bench_query (a client process, DEALER over ipc to the api) vs bench_sqlite_query"
    echo "   (prepared statements, read-only WAL connections, on bench_sqlite's database of the same"
    echo "   dump: indexes on id, data_id${covering:+ (covering)}, reward, created_at), interleaved, medians of $reps runs"
    echo "   and bench_floor (bare libzmq round trips: the transport's floor, with the first size's runs)"
    # bench_floor runs once per repetition, at the first size only,
    # interleaved with the others (its one-client cases with the
    # one-at-a-time runs, its 20 clients with theirs): its figures do not
    # depend on the dump, but the shared machine's load does, so each
    # repetition measures the floor next to the trajstore and SQLite runs it
    # is compared with, and the table shows medians of as many runs as
    # theirs; at further sizes it would only make the run longer.
    floor=1
    floor_bytes="100 4096"      # a get asks ~40 bytes and gets ~4 KB back
    for n in $BENCH_QUERY_SIZES; do
        dump=$(s_dump "$n")
        ids=$(s_ids "$n")
        d=$BENCH_WORK/q$n
        db=$BENCH_WORK/q$n.db
        s_fill "$n" "$d"
        qprocs=$(s_procs "$d")
        api_pid=$(s_pid api "$qprocs") agg_pid=$(s_pid aggregator "$qprocs")
        worker_pids=$(echo "$qprocs" | awk '$1 ~ /^w[0-9]+$/ { print $2 }')
        if [ -n "$haslite" ]; then
            "$lite" "$dump" --reps 1 --json --dir "$BENCH_WORK" --keep "$db" --index-created \
                $covering > /dev/null 2>> "$log" || s_die "bench_sqlite --keep $db failed"
        fi
        r=1
        while [ "$r" -le "$reps" ]; do
            echo "   $n records, run $r of $reps: one at a time (load average $(cut -d' ' -f1 /proc/loadavg))" >&2
            if [ $((r % 2)) -eq 1 ]; then
                s_query_floor --concurrency 0; s_query_ts; s_query_lite
            else
                s_query_lite; s_query_ts; s_query_floor --concurrency 0
            fi
            r=$((r + 1))
        done
        r=1
        while [ "$r" -le "$reps" ]; do
            echo "   $n records, run $r of $reps: $BENCH_QUERY_CLIENTS clients for $BENCH_QUERY_SECONDS s (load average $(cut -d' ' -f1 /proc/loadavg))" >&2
            if [ $((r % 2)) -eq 1 ]; then
                s_query_floor --n 0 --concurrency "$BENCH_QUERY_CLIENTS" --seconds "$BENCH_QUERY_SECONDS"
                s_query_ts --concurrency "$BENCH_QUERY_CLIENTS" --seconds "$BENCH_QUERY_SECONDS"
                s_query_lite --concurrency "$BENCH_QUERY_CLIENTS" --seconds "$BENCH_QUERY_SECONDS"
            else
                s_query_lite --concurrency "$BENCH_QUERY_CLIENTS" --seconds "$BENCH_QUERY_SECONDS"
                s_query_ts --concurrency "$BENCH_QUERY_CLIENTS" --seconds "$BENCH_QUERY_SECONDS"
                s_query_floor --n 0 --concurrency "$BENCH_QUERY_CLIENTS" --seconds "$BENCH_QUERY_SECONDS"
            fi
            r=$((r + 1))
        done
        floor=
        procs=$(s_procs "$d")
        hwm=
        for name in aggregator w1 w2 api; do
            pid=$(echo "$procs" | awk -v n="$name" '$1 == n { print $2 }')
            kb=
            [ -z "$pid" ] || kb=$(s_hwm "$pid")
            hwm="$hwm $name $(awk -v k="${kb:-0}" 'BEGIN { printf "%.0f", k / 1024 }') MB"
        done
        restarts=$(echo "$procs" | awk '{ s += $3 } END { print s + 0 }')
        s_down "$d"
        rm -rf "$d" "$db" "$db-wal" "$db-shm"
        s_query_table
        echo "   peak RSS of the stack after the queries:$hwm; process restarts: $restarts"
    done
    echo "   (JSON lines: $out; the programs' own tables: $log)"
}

# s_query_ts [ARGS]: one run of bench_query on the stack $d; with
# --concurrency, the CPU time the stack's processes used per request too.
s_query_ts () {
    a0=$(s_cpu $api_pid) w0=$(s_cpu $worker_pids) g0=$(s_cpu $agg_pid)
    "$q" --ids "$ids" --data "$d" --records "$n" --n "$BENCH_QUERY_N" --seed "$r" --json "$@" \
        >> "$out" 2>> "$log" || s_die "bench_query failed (see $log)"
    a1=$(s_cpu $api_pid) w1=$(s_cpu $worker_pids) g1=$(s_cpu $agg_pid)
    [ "${1:-}" = --concurrency ] || return 0
    reqs=$(tail -n 1 "$out" | s_jget n)
    echo "{\"bench\":\"query\",\"system\":\"trajstore-stack\",\"case\":\"mix_c$BENCH_QUERY_CLIENTS\",\"records\":$n,$(awk \
        -v a="$a1" -v b="$a0" -v c="$w1" -v e="$w0" -v f="$g1" -v g="$g0" -v r="$reqs" 'BEGIN {
        printf "\"requests\":%d,\"api_cpu_us\":%.1f,\"workers_cpu_us\":%.1f,\"aggregator_cpu_us\":%.1f", r,
               (a - b) / r * 1e6, (c - e) / r * 1e6, (f - g) / r * 1e6 }'),\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\"}" >> "$out"
}

# s_query_floor ARGS: one run of bench_floor (at the first size only: see
# bench_query_section), at 100 and 4096 bytes.
s_query_floor () {
    [ -n "$floor" ] || return 0
    "$fl" --bytes "$(echo "$floor_bytes" | tr ' ' ,)" --n "$BENCH_QUERY_N" --dir "$BENCH_WORK" --json "$@" \
        >> "$out" 2>> "$log" || s_die "bench_floor failed (see $log)"
}

# s_query_lite [ARGS]: one run of bench_sqlite_query on $db.
s_query_lite () {
    [ -n "$haslite" ] || return 0
    "$lq" --ids "$ids" --db "$db" --records "$n" --n "$BENCH_QUERY_N" --seed "$r" --json "$@" \
        >> "$out" 2>> "$log" || s_die "bench_sqlite_query failed (see $log)"
}

# s_qfig SYSTEM CASE FIELD: the median of a field over the runs at $n.
s_qfig () {
    grep "\"system\":\"$1\",\"case\":\"$2\"," "$out" | grep "\"records\":$n," | s_jget "$3" | s_median
}

# s_ffig CASE BYTES FIELD: the median of a field of bench_floor's runs
# with that message size.
s_ffig () {
    grep "\"system\":\"zmq-floor\",\"case\":\"$1\"," "$out" | grep "\"bytes\":$2[,}]" | s_jget "$3" | s_median
}

# s_query_table: the side-by-side table of size $n.
s_query_table () {
    groups=$(awk -F '\t' '$2 != "" && !($2 in g) { g [$2] = 1; k++ } END { print k + 0 }' "$ids")
    echo
    echo "   $n records, $groups groups; ms, medians of $reps runs (n = requests of each kind a run);"
    echo "   ratio = trajstore / SQLite (p50)"
    printf '   %-14s %6s %8s %8s %8s | %8s %8s %8s | %7s %6s | %-18s %s\n' case n "ts p50" "ts p90" \
        "ts p99" "lite p50" "lite p90" "lite p99" ratio rows target verdict
    for c in get get_hot newest reward group_success groups_all stats; do
        case $c in
        get) target=0.15 ;;
        newest|reward|group_success) target=1 ;;
        groups_all) target=5 ;;
        *) target= ;;
        esac
        awk -v c="$c" -v nn="$(s_qfig trajstore "$c" n)" -v p50="$(s_qfig trajstore "$c" p50_ms)" \
            -v p90="$(s_qfig trajstore "$c" p90_ms)" -v p99="$(s_qfig trajstore "$c" p99_ms)" \
            -v l50="$(s_qfig sqlite "$c" p50_ms)" -v l90="$(s_qfig sqlite "$c" p90_ms)" \
            -v l99="$(s_qfig sqlite "$c" p99_ms)" -v rows="$(s_qfig trajstore "$c" rows)" \
            -v lrows="$(s_qfig sqlite "$c" rows)" -v t="$target" 'BEGIN {
            f = "%8.3f"
            printf "   %-14s %6s " f " " f " " f " | ", c, nn, p50, p90, p99
            if (l50 != "") printf f " " f " " f " | %7s ", l50, l90, l99, (l50 > 0 ? sprintf (p50 / l50 >= 10 ? "%.0fx" : p50 / l50 >= 0.1 ? "%.2fx" : "%.4fx", p50 / l50) : "-")
            else printf "%8s %8s %8s | %7s ", "-", "-", "-", "-"
            printf "%6.0f | ", rows
            if (t != "") printf "%-18s %s", "p50 <= " t " ms", (p50 <= t + 0 ? "met" : "MISSED")
            else printf "%-18s", "-"
            if (lrows != "" && (rows - lrows > 0.01 || lrows - rows > 0.01))
                printf "  (rows differ: SQLite %.2f)", lrows
            print "" }'
    done
    echo "   transport floor (bench_floor: bare libzmq over ipc, a DEALER to an echo ROUTER; relay = through"
    echo "   a zmq_proxy, 2 hops each way as client -> api -> worker; B bytes both ways; the first size's runs):"
    for b in $floor_bytes; do
        for c in echo_1 relay_1; do
            awk -v c="$c ${b}B" -v nn="$(s_ffig "$c" "$b" n)" -v p50="$(s_ffig "$c" "$b" p50_ms)" \
                -v p90="$(s_ffig "$c" "$b" p90_ms)" -v p99="$(s_ffig "$c" "$b" p99_ms)" 'BEGIN {
                f = "%8.3f"
                if (p50 == "") printf "   %-14s %6s %8s %8s %8s | ", c, "-", "-", "-", "-"
                else printf "   %-14s %6s " f " " f " " f " | ", c, nn, p50, p90, p99
                printf "%8s %8s %8s | %7s %6s | -\n", "-", "-", "-", "-", "-" }'
        done
    done
    c=mix_c$BENCH_QUERY_CLIENTS
    awk -v c="$c" -v rps="$(s_qfig trajstore "$c" rps)" -v p50="$(s_qfig trajstore "$c" p50_ms)" \
        -v p99="$(s_qfig trajstore "$c" p99_ms)" -v lrps="$(s_qfig sqlite "$c" rps)" \
        -v l50="$(s_qfig sqlite "$c" p50_ms)" -v l99="$(s_qfig sqlite "$c" p99_ms)" \
        -v err="$(s_qfig trajstore "$c" errors)" -v k="$BENCH_QUERY_CLIENTS" -v s="$BENCH_QUERY_SECONDS" \
        -v ccpu="$(s_qfig trajstore "$c" client_cpu_us)" -v acpu="$(s_qfig trajstore-stack "$c" api_cpu_us)" \
        -v wcpu="$(s_qfig trajstore-stack "$c" workers_cpu_us)" -v lcpu="$(s_qfig sqlite "$c" client_cpu_us)" 'BEGIN {
        printf "   %s: %d client processes for %d s, 50/50 get and one group'"'"'s list:\n", c, k, s
        printf "     trajstore %8.0f req/s, p50 %.3f ms, p99 %.3f ms, errors %d\n", rps, p50, p99, err
        printf "       CPU per request: client %.0f us, api %.0f us, workers %.0f us (all %.0f us;" \
               " 2 cores: at most %.0f req/s)\n", ccpu, acpu, wcpu, ccpu + acpu + wcpu,
               (ccpu + acpu + wcpu > 0 ? 2e6 / (ccpu + acpu + wcpu) : 0)
        if (lrps != "")
            printf "     SQLite    %8.0f req/s, p50 %.3f ms, p99 %.3f ms, CPU per request %.0f us;" \
                   " req/s ratio trajstore / SQLite %.2fx\n", lrps, l50, l99, lcpu, (lrps > 0 ? rps / lrps : 0) }'
    # the transport's floor with as many clients: bench_floor's echo_cN and relay_cN
    for b in $floor_bytes; do
        for f in echo relay; do
            fc=${f}_c$BENCH_QUERY_CLIENTS
            awk -v f="$f" -v b="$b" -v rps="$(s_ffig "$fc" "$b" rps)" -v p50="$(s_ffig "$fc" "$b" p50_ms)" \
                -v p99="$(s_ffig "$fc" "$b" p99_ms)" -v err="$(s_ffig "$fc" "$b" errors)" 'BEGIN {
                label = sprintf ("floor %s %sB", f, b)
                if (rps == "") printf "     %-18s -\n", label
                else printf "     %-18s %8.0f req/s, p50 %.3f ms, p99 %.3f ms, errors %d (%s)\n", label, rps, p50,
                            p99, err, (f == "echo" ? "1 hop" : "2 hops, zmq_proxy") }'
        done
    done
    awk -v rps="$(s_qfig trajstore "$c" rps)" -v p99="$(s_qfig trajstore "$c" p99_ms)" 'BEGIN {
        printf "     target >= 20000 req/s and p99 <= 5 ms: %s\n",
               (rps >= 20000 && p99 <= 5 ? "met" : "MISSED") }'
}

# s_pyok: true when $BENCH_PY has python3-zmq and python3-msgpack (the
# Python clients of the first and clients sections and the import readers).
s_pyok () {
    "$BENCH_PY" -c 'import zmq, msgpack' 2> /dev/null
}

# s_cold: drops the OS page cache (root only: $cold says whether it can).
s_cold () {
    [ -n "$cold" ] || return 0
    sync
    echo 3 > /proc/sys/vm/drop_caches
}

# s_fill N DIR: a stack on DIR holding the dump of N records (left running).
s_fill () {
    sdump=$(s_dump "$1")
    s_up "$2"
    prc=0
    "$BUILD/producer/trajstore-producer" --data "$2" --json --quiet "$sdump" > "$2.report" || prc=$?
    imported=$(s_jget imported < "$2.report")
    [ "$prc" -eq 0 ] && [ "${imported:-0}" -eq "$1" ] \
        || s_die "the producer exited $prc, imported ${imported:-nothing} of $1 records"
}

# s_store N DIR DB: s_fill, and, with SQLite, bench_sqlite's database of
# the same dump in DB (indexes on id, data_id, reward, created_at).
s_store () {
    s_fill "$1" "$2"
    covering=
    [ "$BENCH_SQLITE_COVERING" = 0 ] || covering=--covering-group
    if [ -x "$BUILD/bench/bench_sqlite" ]; then
        "$BUILD/bench/bench_sqlite" "$sdump" --reps 1 --json --dir "$BENCH_WORK" --keep "$3" \
            --index-created $covering > /dev/null 2>&1 || s_die "bench_sqlite --keep $3 failed"
    fi
}

# bench_first_section: the first answers after a start. For each case (a
# get, a one-group list, stats + every group) and repetition: the stack is
# stopped, the page cache dropped, `trajstore up` timed, and one Python
# client process (modules loaded, no connection yet) times the case, the
# connection included; then SQLite, the page cache dropped again, opened
# and asked the same by the same kind of client. Interleaved.
bench_first_section () {
    py=$(dirname "$0")/bench_first.py
    s_pyok || { echo "bench: no python3-zmq / python3-msgpack for $BENCH_PY: no first section"; return 0; }
    cold=1
    if [ ! -w /proc/sys/vm/drop_caches ]; then
        cold=
        echo "bench: cannot drop the page cache (not root): the first answers below are WARM"
    fi
    out=$BENCH_OUT/first.jsonl
    : > "$out"
    reps=$BENCH_REPS_SLOW
    echo
    state="NOT dropped"
    [ -z "$cold" ] || state=dropped
    echo "== first: the first answer after \`trajstore up --workers 2\`, page cache $state,"
    echo "   a Python client (python3-zmq + msgpack, REQ socket; the connection included) vs SQLite"
    echo "   opened cold by the same kind of client (sqlite3 module, read-only); medians of $reps"
    for n in $BENCH_FIRST_SIZES; do
        ids=$(s_ids "$n")
        d=$BENCH_WORK/f$n
        db=$BENCH_WORK/f$n.db
        s_store "$n" "$d" "$db"
        s_down "$d"
        r=1
        while [ "$r" -le "$reps" ]; do
            for c in get group stats_groups; do
                if [ $((r % 2)) -eq 1 ]; then s_first_ts; s_first_lite; else s_first_lite; s_first_ts; fi
            done
            r=$((r + 1))
        done
        rm -rf "$d" "$db" "$db-wal" "$db-shm"
        echo "   $n records; ms, median (min-max) of $reps starts; ratio = trajstore / SQLite"
        printf '   %-14s %-22s %-22s %8s | %-10s %s\n' case trajstore SQLite ratio target verdict
        for c in get group stats_groups; do
            case $c in get) t=10 ;; group) t=20 ;; *) t=50 ;; esac
            ts=$(grep '"system": "trajstore"' "$out" | grep "\"case\": \"$c\"" | grep "\"records\":$n," | sed -n 's/.*"ms": \([0-9.]*\).*/\1/p')
            li=$(grep '"system": "sqlite"' "$out" | grep "\"case\": \"$c\"" | grep "\"records\":$n," | sed -n 's/.*"ms": \([0-9.]*\).*/\1/p')
            tm=$(echo "$ts" | s_median) lm=$(echo "$li" | s_median)
            awk -v c="$c" -v tm="$tm" -v tl="$(echo "$ts" | s_min)" -v th="$(echo "$ts" | s_max)" \
                -v lm="$lm" -v ll="$(echo "$li" | s_min)" -v lh="$(echo "$li" | s_max)" -v t="$t" 'BEGIN {
                printf "   %-14s %-22s %-22s %8s | %-10s %s\n", c,
                       (tm == "" ? "-" : sprintf ("%.1f (%.1f-%.1f)", tm, tl, th)),
                       (lm == "" ? "-" : sprintf ("%.2f (%.2f-%.2f)", lm, ll, lh)),
                       (lm > 0 ? sprintf (tm / lm >= 10 ? "%.0fx" : "%.2fx", tm / lm) : "-"), "<= " t " ms",
                       (tm == "" ? "-" : tm <= t + 0 ? "met" : "MISSED") }'
        done
        for c in group stats_groups; do
            dm=$(grep '"system": "trajstore"' "$out" | grep "\"case\": \"$c\"" | grep "\"records\":$n," \
                 | sed -n 's/.*"decode_ms": \([0-9.]*\).*/\1/p' | s_median)
            [ -z "$dm" ] || echo "   of trajstore's $c, the client's msgpack decoding: $(s_fmt %.2f "$dm") ms median"
        done
        ups=$(grep '"system": "trajstore"' "$out" | grep "\"records\":$n," | sed -n 's/.*"up_s":\([0-9.]*\).*/\1/p')
        echo "   trajstore up (until it returns): $(s_fmt %.2f "$(echo "$ups" | s_median)") s median" \
             "($(s_fmt %.2f "$(echo "$ups" | s_min)")-$(s_fmt %.2f "$(echo "$ups" | s_max)")); load average $(cut -d' ' -f1-3 /proc/loadavg)"
    done
    echo "   (JSON lines: $out)"
}

# s_first_ts: one cold start of the stack on $d and its first answer to
# case $c; the JSON line gets the size, the repetition and up's seconds.
s_first_ts () {
    s_cold
    t0=$(s_now)
    s_up "$d"
    t1=$(s_now)
    line=$("$BENCH_PY" "$py" first --api "ipc://$d/api.sock" --ids "$ids" --case "$c" --seed "$r") \
        || s_die "bench_first.py first --case $c failed"
    s_down "$d"
    echo "$line" | sed "s/}\$/, \"records\":$n, \"rep\":$r, \"up_s\":$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')}/" >> "$out"
}

# s_first_lite: SQLite's first answer to case $c, its file cold.
s_first_lite () {
    [ -s "$db" ] || return 0
    s_cold
    line=$("$BENCH_PY" "$py" first --sqlite "$db" --ids "$ids" --case "$c" --seed "$r") \
        || s_die "bench_first.py first --sqlite --case $c failed"
    echo "$line" | sed "s/}\$/, \"records\":$n, \"rep\":$r}/" >> "$out"
}

# bench_clients_section: many clients at once on a store of
# BENCH_CLIENTS_SIZE records: BENCH_QUERY_CLIENTS Python client processes
# (one REQ socket each) alternating a get and a one-group list, the same
# with SQLite in each process, bench_query's C clients, and bench_floor's
# bare ZeroMQ round trips (relay: two hops, as client -> api -> worker),
# interleaved, BENCH_QUERY_SECONDS each; the stack's CPU per request.
bench_clients_section () {
    py=$(dirname "$0")/bench_first.py
    s_pyok || { echo "bench: no python3-zmq / python3-msgpack for $BENCH_PY: no clients section"; return 0; }
    n=$BENCH_CLIENTS_SIZE
    k=$BENCH_QUERY_CLIENTS
    secs=$BENCH_QUERY_SECONDS
    ids=$(s_ids "$n")
    d=$BENCH_WORK/c$n
    db=$BENCH_WORK/c$n.db
    out=$BENCH_OUT/clients.jsonl
    log=$BENCH_OUT/clients.log
    : > "$out"
    : > "$log"
    reps=$BENCH_REPS_SLOW
    s_store "$n" "$d" "$db"
    cprocs=$(s_procs "$d")
    api_pid=$(s_pid api "$cprocs")
    worker_pids=$(echo "$cprocs" | awk '$1 ~ /^w[0-9]+$/ { print $2 }')
    echo
    echo "== clients: $k client processes for $secs s, get and one-group list (limit 100) alternating,"
    echo "   $n records; Python (python3-zmq + msgpack, a REQ socket each) and C (bench_query) clients"
    echo "   vs SQLite in each Python process and bare libzmq (bench_floor), interleaved, medians of $reps"
    r=1
    while [ "$r" -le "$reps" ]; do
        echo "   run $r of $reps (load average $(cut -d' ' -f1 /proc/loadavg))" >&2
        if [ $((r % 2)) -eq 1 ]; then
            s_clients_floor; s_clients_py; s_clients_c; s_clients_lite
        else
            s_clients_lite; s_clients_c; s_clients_py; s_clients_floor
        fi
        r=$((r + 1))
    done
    s_down "$d"
    rm -rf "$d" "$db" "$db-wal" "$db-shm"
    cf () { grep "\"case\": *\"$1\"" "$out" | grep "\"system\": *\"$2\"" | sed -n "s/.*\"$3\": *\([0-9.e+-]*\).*/\1/p" | s_median; }
    ff () { grep "\"system\":\"zmq-floor\",\"case\":\"$1\"," "$out" | grep "\"bytes\":$2[,}]" | s_jget "$3" | s_median; }
    relay=$(ff "relay_c$k" 4096 rps) relay100=$(ff "relay_c$k" 100 rps)
    awk -v k="$k" -v py="$(cf "py_mix_c$k" trajstore rps)" -v py99="$(cf "py_mix_c$k" trajstore p99_ms)" \
        -v pycpu="$(cf "py_mix_c$k" trajstore client_cpu_us)" \
        -v api="$(cf "py_mix_c$k" trajstore-stack api_cpu_us)" -v wk="$(cf "py_mix_c$k" trajstore-stack workers_cpu_us)" \
        -v c="$(cf "mix_c$k" trajstore rps)" -v c99="$(cf "mix_c$k" trajstore p99_ms)" \
        -v ccpu="$(cf "mix_c$k" trajstore client_cpu_us)" \
        -v capi="$(cf "mix_c$k" trajstore-stack api_cpu_us)" -v cwk="$(cf "mix_c$k" trajstore-stack workers_cpu_us)" \
        -v li="$(cf "py_mix_c$k" sqlite rps)" -v li99="$(cf "py_mix_c$k" sqlite p99_ms)" \
        -v relay="$relay" -v relay100="$relay100" 'BEGIN {
        printf "   %-34s %9s %8s | %s\n", "", "req/s", "p99 ms", "CPU per request: client / api / workers (us)"
        printf "   %-34s %9.0f %8.2f | %.0f / %.0f / %.0f\n", "trajstore, Python clients", py, py99, pycpu, api, wk
        printf "   %-34s %9.0f %8.2f | %.0f / %.0f / %.0f\n", "trajstore, C clients (bench_query)", c, c99, ccpu, capi, cwk
        if (li != "") printf "   %-34s %9.0f %8.2f |\n", "SQLite in each Python process", li, li99
        printf "   %-34s %9.0f %8s |\n", "floor: 2 bare hops, 4096 B", relay, "-"
        printf "   %-34s %9.0f %8s |\n", "floor: 2 bare hops, 100 B", relay100, "-"
        printf "   targets: Python >= 6000 req/s: %s; C >= 60%% of the 4096 B floor: %.0f%% %s; p99 <= 10 ms: %s / %s\n",
               (py >= 6000 ? "met" : "MISSED"), (relay > 0 ? c / relay * 100 : 0),
               (relay > 0 && c / relay >= 0.6 ? "met" : "MISSED"),
               (py99 <= 10 ? "met" : "MISSED"), (c99 <= 10 ? "met" : "MISSED")
        if (li > 0) printf "   ratio trajstore Python / SQLite Python: %.2fx\n", py / li }'
    echo "   (JSON lines: $out; the programs' own tables: $log)"
}

# s_stack_cpu SYSTEM CASE REQUESTS A0 W0: the JSON line of the stack's CPU
# per request since A0 (api) and W0 (workers).
s_stack_cpu () {
    a1=$(s_cpu $api_pid) w1=$(s_cpu $worker_pids)
    echo "{\"bench\": \"clients\", \"system\": \"trajstore-stack\", \"case\": \"$1\", \"requests\": $2, $(awk \
        -v a="$a1" -v b="$3" -v c="$w1" -v e="$4" -v r="$2" 'BEGIN {
        printf "\"api_cpu_us\": %.1f, \"workers_cpu_us\": %.1f", (a - b) / r * 1e6, (c - e) / r * 1e6 }')}" >> "$out"
}

s_clients_py () {
    a0=$(s_cpu $api_pid) w0=$(s_cpu $worker_pids)
    "$BENCH_PY" "$py" clients --api "ipc://$d/api.sock" --ids "$ids" --clients "$k" --seconds "$secs" \
        --seed "$r" >> "$out" 2>> "$log" || s_die "bench_first.py clients failed (see $log)"
    s_stack_cpu "py_mix_c$k" "$(tail -n 1 "$out" | sed -n 's/.*"n": \([0-9]*\).*/\1/p')" "$a0" "$w0"
}

s_clients_c () {
    a0=$(s_cpu $api_pid) w0=$(s_cpu $worker_pids)
    "$BUILD/bench/bench_query" --ids "$ids" --data "$d" --records "$n" --seed "$r" --json \
        --concurrency "$k" --seconds "$secs" >> "$out" 2>> "$log" || s_die "bench_query failed (see $log)"
    s_stack_cpu "mix_c$k" "$(tail -n 1 "$out" | s_jget n)" "$a0" "$w0"
}

s_clients_lite () {
    [ -s "$db" ] || return 0
    "$BENCH_PY" "$py" clients --sqlite "$db" --ids "$ids" --clients "$k" --seconds "$secs" \
        --seed "$r" >> "$out" 2>> "$log" || s_die "bench_first.py clients --sqlite failed (see $log)"
}

s_clients_floor () {
    "$BUILD/bench/bench_floor" --bytes 100,4096 --n 0 --dir "$BENCH_WORK" --json \
        --concurrency "$k" --seconds "$secs" >> "$out" 2>> "$log" || s_die "bench_floor failed (see $log)"
}

bench_http_section () {
    echo "== http: the gateway's page of 100 summaries, a 2 MB trajectory in Chromium"
    /usr/bin/python3 "$(dirname "$0")/http_bench.py" "$(cd "$BUILD" && pwd)" \
        --records "${BENCH_HTTP_RECORDS:-100000}" | tee "$BENCH_OUT/http.md"
}

# bench_search_section: full-text search (issue #15). Per size of
# BENCH_SEARCH_SIZES: the import of the dump into a fresh stack with the
# text index and with --no-text-index, interleaved (BENCH_REPS_SLOW runs at
# 10000 and below, one above), the producer's wall time; then, on the
# indexed stack of the last run, bench/search_bench.py: a rare and a common
# term and a phrase (first 20 hits, newest first) through the api, and the
# same searches in SQLite FTS5 over the same dump, in the same run.
bench_search_section () {
    out=$BENCH_OUT/search.jsonl
    : > "$out"
    echo
    echo "== search: import with the text index vs --no-text-index (trajstore up --workers 2,"
    echo "   the import's wall time), interleaved; then searches vs SQLite FTS5 on the same dump"
    for n in ${BENCH_SEARCH_SIZES:-10000 100000}; do
        dump=$(s_dump "$n")
        cat "$dump" > /dev/null
        reps=$BENCH_REPS_SLOW
        [ "$n" -le 10000 ] || reps=1
        r=1 keep=
        while [ "$r" -le "$reps" ]; do
            for mode in $( [ $((r % 2)) -eq 1 ] && echo "index plain" || echo "plain index"); do
                d=$BENCH_WORK/s$n-$r-$mode
                BENCH_STACKS="$BENCH_STACKS $d"     # (s_up's, without the HTTP gateway's port)
                "$BUILD/tools/trajstore" up --workers 2 --no-http --data "$d" > "$d.up.log" 2>&1 \
                    || { cat "$d.up.log" >&2; s_die "trajstore up --data $d failed"; }
                flag=
                [ "$mode" = plain ] && flag=--no-text-index
                t0=$(s_now)
                "$BUILD/tools/trajstore" import --quiet --data "$d" $flag "$dump" > "$d.import.log" 2>&1 \
                    || { cat "$d.import.log" >&2; s_die "import of $dump ($mode) failed"; }
                t1=$(s_now)
                secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
                du=$(du -sk "$d/shards" | awk '{ print $1 }')
                echo "{\"bench\":\"search\",\"system\":\"trajstore\",\"case\":\"import_$mode\",\"records\":$n,\"run\":$r,\"seconds\":$secs,\"shards_kb\":$du}" >> "$out"
                echo "   import $n records, $mode: $secs s, shards $du KB"
                if [ "$mode" = index ] && [ "$r" -eq "$reps" ]; then
                    keep=$d
                else
                    s_down "$d"
                    rm -rf "$d"
                fi
            done
            r=$((r + 1))
        done
        idx=$(grep "\"case\":\"import_index\",\"records\":$n," "$out" | s_jget seconds | s_median)
        pln=$(grep "\"case\":\"import_plain\",\"records\":$n," "$out" | s_jget seconds | s_median)
        echo "   import $n: median $idx s with the index, $pln s without: $(s_ratio "$idx" "$pln")x (target <= 1.30x)"
        /usr/bin/python3 "$(dirname "$0")/search_bench.py" "$keep" "$dump" "$out" \
            "${BENCH_SEARCH_N:-50}" || s_die "search_bench.py failed"
        s_down "$keep"
        rm -rf "$keep"
    done
    echo "   (JSON lines: $out)"
}

main () {
    for s in $BENCH_SECTIONS; do
        case $s in
        core|import|query|first|clients|http|search) ;;
        *) s_die "unknown section '$s' in BENCH_SECTIONS (core, import, query, first, clients, http, search)" ;;
        esac
    done
    bench_setup
    for s in $BENCH_SECTIONS; do
        "bench_${s}_section"
    done
}

main
