_qmp__exec() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="qmp__exec"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        qmp__exec)
            opts="-s -v -j -e -m -n -h -V --socket --timeout --wait --max-message --verbose --args --hmp --oob --pass-fd --cpu-index --batch --keep-going --with-events --list --describe --json --pretty --raw --event --match --fail-on --count --event-timeout --job --attach --no-progress --dismiss --finalize --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --socket)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -s)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-message)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --args)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --pass-fd)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cpu-index)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --describe)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --event)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -e)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --match)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -m)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --fail-on)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --count)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -n)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --event-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --job)
                    COMPREPLY=($(compgen -W "ready concluded" -- "${cur}"))
                    return 0
                    ;;
                --attach)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _qmp_exec_live -o nosort -o bashdefault -o default qmp-exec
else
    complete -F _qmp_exec_live -o bashdefault -o default qmp-exec
fi

# Command names from the server (-s/--socket, else QMP_SOCKET).
_qmp_exec_live() {
    local line="${COMP_LINE:0:COMP_POINT}" cur="" value="" seen=0 i w
    local -a words sock=()
    read -ra words <<< "$line"
    if [[ $line != *[[:space:]] && ${#words[@]} -gt 0 ]]; then
        cur="${words[${#words[@]}-1]}"
        unset 'words[${#words[@]}-1]'
    fi
    for (( i = 1; i < ${#words[@]}; i++ )); do
        w="${words[i]}"
        if [[ -n $value ]]; then
            [[ $value == -s || $value == --socket ]] && sock=(-s "$w")
            value=""
            continue
        fi
        case "$w" in
            -s|--socket|--timeout|--max-message|--args|--pass-fd|--cpu-index|--describe|-e|--event|-m|--match|--fail-on|-n|--count|--event-timeout|--job|--attach) value="$w" ;;
            -*) ;;
            *) seen=1; break ;;
        esac
    done
    if [[ $cur != -* ]] && { [[ $value == --describe ]] || [[ -z $value && $seen == 0 ]]; }; then
        COMPREPLY=( $(compgen -W "$(qmp-exec "${sock[@]}" --list --timeout 0.5 2>/dev/null)" -- "$cur") )
        (( ${#COMPREPLY[@]} )) && return 0
    fi
    _qmp__exec "$@"
}
