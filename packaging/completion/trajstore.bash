# bash completion for trajstore(1) and its programs.
#
# Commands and their options come from `trajstore help` itself, so they stay
# in step with the program; profile names from `trajstore __complete
# profiles`; group names (--group) and run names (--run, compare's
# arguments) from the running stack (`trajstore groups --json`, `trajstore
# runs --json` where that command exists), for at most 2 s, only when the
# api socket of the data directory exists.

_trajstore_data_args()
{
    # the --data / --api given on the line so far, for the questions we ask
    local i
    for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
        case ${COMP_WORDS[i]} in
            --data|--api) printf '%s\n%s\n' "${COMP_WORDS[i]}" "${COMP_WORDS[i+1]}" ;;
        esac
    done
}

# names from the running stack: _trajstore_names PROG COMMAND FIELD [OPTIONS]
# (e.g. groups group, runs run); nothing when the command does not exist
_trajstore_names()
{
    local prog=$1 cmd=$2 field=$3 data=()
    shift 3
    "$prog" help "$cmd" >/dev/null 2>&1 || return
    mapfile -t data < <(_trajstore_data_args)
    local dir=${TRAJSTORE_DATA:-${XDG_DATA_HOME:-$HOME/.local/share}/trajstore} i
    for ((i = 0; i < ${#data[@]}; i += 2)); do
        [[ ${data[i]} == --data ]] && dir=${data[i+1]}
    done
    # cheap or nothing: no stack, no question
    [[ -S $dir/api.sock || -n $TRAJSTORE_API || " ${data[*]} " == *" --api "* ]] || return
    timeout 2 "$prog" "$cmd" "${data[@]}" --json "$@" 2>/dev/null \
        | sed -n "s/.*\"$field\": *\"\\([^\"\\\\]*\\)\".*/\\1/p"
}

_trajstore()
{
    local cur prev prog=${COMP_WORDS[0]}
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    [[ $prog == */* || -n $(type -P "$prog") ]] || prog=trajstore

    if ((COMP_CWORD == 1)); then
        local cmds
        cmds=$("$prog" help 2>/dev/null | sed -n 's/^  trajstore \([a-z]*\).*/\1/p')
        mapfile -t COMPREPLY < <(compgen -W "$cmds --help --version" -- "$cur")
        return
    fi
    local cmd=${COMP_WORDS[1]}

    case $prev in
        --data|--rejects|--out)
            mapfile -t COMPREPLY < <(compgen -d -- "$cur"); compopt -o filenames; return ;;
        --profile)
            mapfile -t COMPREPLY < <(compgen -W "$("$prog" __complete profiles 2>/dev/null)" -- "$cur")
            return ;;
        --log-level)
            mapfile -t COMPREPLY < <(compgen -W "debug info warn error" -- "$cur"); return ;;
        --only)
            mapfile -t COMPREPLY < <(compgen -W "pass fail mixed" -- "$cur"); return ;;
        --sort)
            local cols
            if [[ $cmd == groups ]]; then
                cols="group records successes success_rate reward_mean reward_max pass@1 pass@5 pass@10"
                cols="$cols $(printf -- '-%s ' $cols)"
            else
                cols="-created created reward -reward id -id"
            fi
            mapfile -t COMPREPLY < <(compgen -W "$cols" -- "$cur"); return ;;
        --group)
            local IFS=$'\n'
            mapfile -t COMPREPLY < <(compgen -W "$(_trajstore_names "$prog" groups group \
                --sort -records --limit 500)" -- "$cur"); return ;;
        --run)
            local IFS=$'\n'
            mapfile -t COMPREPLY < <(compgen -W "$(_trajstore_names "$prog" runs run)" -- "$cur"); return ;;
        --workers|--shards|--limit|--offset|--cursor|--api|--model|--reward|--created|--job)
            return ;;
    esac

    if [[ $cur == -* ]]; then
        local opts
        opts=$("$prog" help "$cmd" 2>/dev/null | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
        mapfile -t COMPREPLY < <(compgen -W "$opts --help" -- "$cur")
        return
    fi
    case $cmd in
        compare)
            local IFS=$'\n'
            mapfile -t COMPREPLY < <(compgen -W "$(_trajstore_names "$prog" runs run)" -- "$cur") ;;
        import) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); compopt -o filenames ;;
        help)   ((COMP_CWORD == 2)) && mapfile -t COMPREPLY < <(compgen -W \
                    "$("$prog" help 2>/dev/null | sed -n 's/^  trajstore \([a-z]*\).*/\1/p')" -- "$cur") ;;
    esac
}

# the daemons and the generator: their options, from their --help
_trajstore_program()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    case $prev in
        --data|--out) mapfile -t COMPREPLY < <(compgen -d -- "$cur"); compopt -o filenames; return ;;
        --log-level) mapfile -t COMPREPLY < <(compgen -W "debug info warn error" -- "$cur"); return ;;
        --profile) mapfile -t COMPREPLY < <(compgen -W "$(trajstore __complete profiles 2>/dev/null)" -- "$cur"); return ;;
    esac
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$("${COMP_WORDS[0]}" --help 2>/dev/null \
            | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)" -- "$cur")
    else
        mapfile -t COMPREPLY < <(compgen -f -- "$cur"); compopt -o filenames
    fi
}

complete -F _trajstore trajstore
complete -F _trajstore_program trajstore-producer trajstore-aggregator trajstore-worker \
    trajstore-api trajstore-gen
