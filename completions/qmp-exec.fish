complete -c qmp-exec -s s -l socket -d 'Monitor address: a Unix socket PATH, unix:PATH, unix:@NAME (abstract), HOST:PORT, tcp:HOST:PORT, [IPV6]:PORT, or listen:ADDR to wait for QEMU to connect' -r
complete -c qmp-exec -l timeout -d 'Seconds allowed for connecting plus the handshake, and for each reply (\'none\': no limit) [default: 10]' -r
complete -c qmp-exec -l max-message -d 'Largest message accepted from the server, in bytes' -r
complete -c qmp-exec -l args -d 'The whole arguments object as JSON (\'-\' reads it from stdin); items are added to it and override its keys' -r
complete -c qmp-exec -l pass-fd -d 'Pass inherited file descriptor N with the command (SCM_RIGHTS; repeatable), for getfd and add-fd: --pass-fd 3 3<>disk.img' -r
complete -c qmp-exec -l cpu-index -d 'With --hmp: run the command on this CPU (as HMP\'s \'cpu N\')' -r
complete -c qmp-exec -l describe -d 'Describe COMMAND from the server\'s schema: its arguments (types, optional, enum values, nested members) and return type' -r
complete -c qmp-exec -s e -l event -d 'Wait for events named NAME (repeatable; shell globs such as \'BLOCK_JOB_*\')' -r
complete -c qmp-exec -s m -l match -d 'Only events whose data meets COND: PATH=VALUE (PATH dotted; a string matches VALUE as text), PATH (present) or !PATH (absent); repeatable, all must hold' -r
complete -c qmp-exec -l fail-on -d 'End with status 1 when an event NAME whose data meets every COND arrives (COND as for -m; \\, is a comma in a VALUE; repeatable)' -r
complete -c qmp-exec -s n -l count -d 'End with status 0 after N matching events' -r
complete -c qmp-exec -l event-timeout -d 'Seconds allowed for the awaited events, from the end of the reply (\'none\': no limit) [default: --timeout]' -r
complete -c qmp-exec -l job -d 'After the reply, follow the job the command starts or acts on (its job-id; id= for job-*, device= for block-job-*) until ready (the default; for mirror and active commit) or concluded, within --event-timeout; status 0 when it ended well, 1 failed, paused by an error or cancelled, 4 deadline' -r -f -a "ready\t''
concluded\t''"
complete -c qmp-exec -l attach -d 'Follow the job ID as --job does, without a command (a job started elsewhere); after a command, the job it acts on' -r
complete -c qmp-exec -l wait -d 'Retry connecting until the timeout while the socket is missing or refuses (QEMU starting)'
complete -c qmp-exec -s v -l verbose -d 'Print the wire traffic on stderr ("-> " sent, "<- " received)'
complete -c qmp-exec -l hmp -d 'Run the words as a human-monitor (HMP) command line (qmp-exec --hmp info status) and print its text; HMP errors fail'
complete -c qmp-exec -l oob -d 'Send the command out of band (exec-oob), ahead of in-band commands QEMU is still running (migrate-pause, migrate-recover)'
complete -c qmp-exec -l batch -d 'Read newline-delimited JSON commands from stdin and print one reply per line; commands with side effects wait for every earlier reply'
complete -c qmp-exec -l keep-going -d 'With --batch: go on after an error reply or an invalid line (everything pipelined)'
complete -c qmp-exec -l with-events -d 'With --batch: print the events that arrive as JSON lines too, in order of arrival among the replies'
complete -c qmp-exec -l list -d 'List the server\'s commands, one per line (with --json: one JSON list)'
complete -c qmp-exec -s j -l json -d 'Print JSON, one compact document per line (for jq)'
complete -c qmp-exec -l pretty -d 'Print indented JSON'
complete -c qmp-exec -l raw -d 'Print the whole reply message, not just its return value'
complete -c qmp-exec -l no-progress -d 'With --job or --attach: no progress line on the terminal'
complete -c qmp-exec -l dismiss -d 'With --job or --attach: dismiss the job once concluded (job-dismiss), for auto-dismiss:=false jobs and blockdev-create'
complete -c qmp-exec -l finalize -d 'With --job or --attach: finalize the job when it waits at pending (job-finalize), for auto-finalize:=false jobs'
complete -c qmp-exec -s h -l help -d 'Print help (see more with \'--help\')'
complete -c qmp-exec -s V -l version -d 'Print version'

# Command names from the server (-s/--socket, else QMP_SOCKET).
function __qmp_exec_live
    set -l value
    set -l sock
    set -l seen 0
    for t in (commandline -opc)[2..-1]
        if test -n "$value"
            if contains -- $value -s --socket
                set sock -s $t
            end
            set value
            continue
        end
        if contains -- $t -s --socket --timeout --max-message --args --pass-fd --cpu-index --describe -e --event -m --match --fail-on -n --count --event-timeout --job --attach
            set value $t
        else if not string match -q -- '-*' $t
            set seen 1
        end
    end
    if test "$value" = --describe; or begin; test -z "$value"; and test $seen = 0; end
        qmp-exec $sock --list --timeout 0.5 2>/dev/null
    end
end
complete -c qmp-exec -a '(__qmp_exec_live)'
