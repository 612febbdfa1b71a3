#!/bin/sh
# bench/import_cpu.sh LABEL BUILD DUMP [IMPORT OPTIONS]: one import into a
# fresh stack (trajstore up --workers 2 --no-http on a new data directory),
# printed as one line: LABEL, the import's wall seconds, the CPU seconds
# (utime+stime) of the stack's processes 2 s after it (those whose command
# line names the data directory; a pass still running then is not all
# counted), the import command's own CPU, the data directory's MB. For A/B
# runs side by side, e.g. docs/PERFORMANCE.md "CPU a token":
#   sh bench/import_cpu.sh main-index ../main/build gen-10000.jsonl
#   sh bench/import_cpu.sh main-plain ../main/build gen-10000.jsonl --no-text-index
label=$1; B=$2; dump=$3; shift 3
d=$(mktemp -d "${TMPDIR:-/tmp}/import_cpu.XXXXXX")
"$B/tools/trajstore" up --workers 2 --no-http --data "$d" > /dev/null 2>&1 || { echo "$label: up failed" >&2; exit 1; }
t0=$(date +%s.%N)
/usr/bin/time -f "%U %S" -o "$d.time" "$B/tools/trajstore" import --quiet --data "$d" "$@" "$dump" \
    > /dev/null 2>&1 || echo "$label: import failed" >&2
t1=$(date +%s.%N)
sleep 2
ticks=0
for p in /proc/[0-9]*; do
    if tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q -- "$d"; then
        c=$(awk '{print $14+$15}' "$p/stat" 2>/dev/null)
        ticks=$((ticks + ${c:-0}))
    fi
done 2>/dev/null
"$B/tools/trajstore" down --data "$d" > /dev/null 2>&1
icpu=$(awk '{print $1+$2}' "$d.time")
echo "$label wall $(echo "$t1 - $t0" | bc) cpu $(echo "scale=2; $ticks / $(getconf CLK_TCK)" | bc)" \
     "import_cpu $icpu MB $(du -sm "$d" | cut -f1)"
rm -rf "$d" "$d.time"
