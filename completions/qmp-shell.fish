complete -c qmp-shell -s s -l socket -d 'Monitor address: a Unix socket PATH, unix:PATH, unix:@NAME (abstract), HOST:PORT, tcp:HOST:PORT, [IPV6]:PORT, or listen:ADDR to wait for QEMU to connect' -r
complete -c qmp-shell -l timeout -d 'Seconds allowed for connecting plus the handshake, and for each reply (\'none\': no limit) [default: 10]' -r
complete -c qmp-shell -l max-message -d 'Largest message accepted from the server, in bytes' -r
complete -c qmp-shell -s l -l log -d 'Log every message, both ways, to FILE ("-> " sent, "<- " received)' -r -F
complete -c qmp-shell -l wait -d 'Retry connecting until the timeout while the socket is missing or refuses (QEMU starting)'
complete -c qmp-shell -s v -l verbose -d 'Print the wire traffic on stderr ("-> " sent, "<- " received)'
complete -c qmp-shell -s H -l hmp -d 'HMP mode: lines are human-monitor commands (\'cpu N\' picks the CPU later lines run on)'
complete -c qmp-shell -s e -l exit-on-error -d 'In a script (stdin not a terminal): stop at the first error reply (status 1) or invalid line (status 2)'
complete -c qmp-shell -l compact -d 'Print replies as one line of JSON, not indented'
complete -c qmp-shell -l wrap -d 'Start QEMU-COMMAND with its QMP monitor connected to the shell, open the shell, and stop QEMU when the shell ends'
complete -c qmp-shell -s h -l help -d 'Print help (see more with \'--help\')'
complete -c qmp-shell -s V -l version -d 'Print version'
