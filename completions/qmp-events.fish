complete -c qmp-events -s s -l socket -d 'Monitor address: a Unix socket PATH, unix:PATH, unix:@NAME (abstract), HOST:PORT, tcp:HOST:PORT, [IPV6]:PORT, or listen:ADDR to wait for QEMU to connect' -r
complete -c qmp-events -l timeout -d 'Seconds allowed for connecting plus the handshake, and for each reply (\'none\': no limit) [default: 10]' -r
complete -c qmp-events -l max-message -d 'Largest message accepted from the server, in bytes' -r
complete -c qmp-events -s e -l event -d 'Wait for events named NAME (repeatable; shell globs such as \'BLOCK_JOB_*\')' -r
complete -c qmp-events -s m -l match -d 'Only events whose data meets COND: PATH=VALUE (PATH dotted; a string matches VALUE as text), PATH (present) or !PATH (absent); repeatable, all must hold' -r
complete -c qmp-events -l fail-on -d 'End with status 1 when an event NAME whose data meets every COND arrives (COND as for -m; \\, is a comma in a VALUE; repeatable)' -r
complete -c qmp-events -s n -l count -d 'End with status 0 after N matching events' -r
complete -c qmp-events -l event-timeout -d 'Seconds allowed for the awaited events, from the end of the reply (\'none\': no limit) [default: --timeout]' -r
complete -c qmp-events -l describe -d 'Describe EVENT from the server\'s schema: the members of its data (types, optional, enum values)' -r
complete -c qmp-events -l wait -d 'Retry connecting until the timeout while the socket is missing or refuses (QEMU starting)'
complete -c qmp-events -s v -l verbose -d 'Print the wire traffic on stderr ("-> " sent, "<- " received)'
complete -c qmp-events -s j -l json -d 'Print each event as one JSON object per line'
complete -c qmp-events -l list -d 'List the server\'s events, one per line (with --json: one JSON list)'
complete -c qmp-events -s h -l help -d 'Print help (see more with \'--help\')'
complete -c qmp-events -s V -l version -d 'Print version'
