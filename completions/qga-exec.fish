complete -c qga-exec -s s -l socket -d 'Guest agent address (the host end of the guest\'s org.qemu.guest_agent.0 port): a Unix socket PATH, unix:PATH, unix:@NAME (abstract), HOST:PORT, tcp:HOST:PORT, [IPV6]:PORT, or listen:ADDR to wait for QEMU to connect' -r
complete -c qga-exec -l timeout -d 'Seconds allowed for connecting plus the agent\'s sync, for each reply, and for qga-run\'s program to exit (\'none\': no limit) [default: 10]' -r
complete -c qga-exec -l max-message -d 'Largest message accepted from the server, in bytes' -r
complete -c qga-exec -l args -d 'The whole arguments object as JSON (\'-\' reads it from stdin); items are added to it and override its keys' -r
complete -c qga-exec -l wait -d 'Retry connecting until the timeout while the socket is missing or refuses (QEMU starting)'
complete -c qga-exec -s v -l verbose -d 'Print the wire traffic on stderr ("-> " sent, "<- " received)'
complete -c qga-exec -l list -d 'List the agent\'s commands (guest-info), one per line: NAME enabled|disabled, plus no-reply for those that send no reply on success (with --json: one JSON list)'
complete -c qga-exec -s j -l json -d 'Print JSON, one compact document per line (for jq)'
complete -c qga-exec -l pretty -d 'Print indented JSON'
complete -c qga-exec -l raw -d 'Print the whole reply message, not just its return value'
complete -c qga-exec -s h -l help -d 'Print help (see more with \'--help\')'
complete -c qga-exec -s V -l version -d 'Print version'
