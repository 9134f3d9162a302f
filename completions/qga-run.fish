complete -c qga-run -s s -l socket -d 'Guest agent address (the host end of the guest\'s org.qemu.guest_agent.0 port): a Unix socket PATH, unix:PATH, unix:@NAME (abstract), HOST:PORT, tcp:HOST:PORT, [IPV6]:PORT, or listen:ADDR to wait for QEMU to connect' -r
complete -c qga-run -l timeout -d 'Seconds allowed for connecting plus the agent\'s sync, for each reply, and for qga-run\'s program to exit (\'none\': no limit) [default: 10]' -r
complete -c qga-run -l max-message -d 'Largest message accepted from the server, in bytes' -r
complete -c qga-run -s e -l env -d 'Add NAME=VALUE to the program\'s environment (repeatable)' -r
complete -c qga-run -l wait -d 'Retry connecting until the timeout while the socket is missing or refuses (QEMU starting)'
complete -c qga-run -s v -l verbose -d 'Print the wire traffic on stderr ("-> " sent, "<- " received)'
complete -c qga-run -l stdin -d 'Send our standard input to the program (read to its end before the program starts)'
complete -c qga-run -s h -l help -d 'Print help (see more with \'--help\')'
complete -c qga-run -s V -l version -d 'Print version'
