# tests/e2e/e2e_procs.sh: starting and watching the real processes, shared by
# the end-to-end drivers (sourced). Expects D (the data directory), T (a
# scratch directory with a run/ folder) and AGG, WORKER, APIBIN (binaries).

# pid_of NAME: the pid of a process started with `start`
pid_of () { cat "$T/run/$1.pid" 2>/dev/null; }

# is_alive PID: running (not a zombie)
is_alive () {
    [ -n "$1" ] && [ -e "/proc/$1" ] || return 1
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$st" ] && [ "$st" != Z ]
}

# start NAME CMD...: in the background, logging to D/logs/NAME.log
start () {
    name=$1
    shift
    "$@" >>"$D/logs/$name.log" 2>&1 &
    echo $! >"$T/run/$name.pid"
}

start_agg ()    { start aggregator "$AGG" --data "$D"; }
start_worker () { start "$1" "$WORKER" --name "$1" --data "$D"; }
start_api ()    { start api "$APIBIN" --data "$D"; }

# wait_exit NAME SECONDS: waits for NAME's process to end (a process of this
# shell: `start`); its status in RC, and its pid file goes. 1 (RC 124) when
# it still runs after SECONDS.
wait_exit () {
    pid=$(pid_of "$1")
    [ -n "$pid" ] || { RC=0; return 0; }
    end=$(( $(date +%s) + $2 ))
    while is_alive "$pid"; do
        [ "$(date +%s)" -lt "$end" ] || { RC=124; return 1; }
        sleep 0.05
    done
    wait "$pid" 2>/dev/null
    RC=$?
    rm -f "$T/run/$1.pid"
    return 0
}

# term NAME...: SIGTERM (no wait)
term () {
    for n in "$@"; do
        p=$(pid_of "$n")
        is_alive "$p" && kill -TERM "$p"
    done
}

# print_files FILE...: each existing file on stderr, a huge one cut to its
# first and last 100 kB (what a failing test shows of its logs)
print_files () {
    for f in "$@"; do
        [ -f "$f" ] || continue
        echo "===== $f" >&2
        if [ "$(wc -c <"$f")" -gt 200000 ]; then
            head -c 100000 "$f" >&2
            echo "[... $(wc -c <"$f") bytes, cut ...]" >&2
            tail -c 100000 "$f" >&2
        else
            cat "$f" >&2
        fi
    done
}
