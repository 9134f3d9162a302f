complete -c qom-get -s s -l socket -d 'Monitor address: a Unix socket PATH, unix:PATH, unix:@NAME (abstract), HOST:PORT, tcp:HOST:PORT, [IPV6]:PORT, or listen:ADDR to wait for QEMU to connect' -r
complete -c qom-get -l timeout -d 'Seconds allowed for connecting plus the handshake, and for each reply (\'none\': no limit) [default: 10]' -r
complete -c qom-get -l max-message -d 'Largest message accepted from the server, in bytes' -r
complete -c qom-get -l wait -d 'Retry connecting until the timeout while the socket is missing or refuses (QEMU starting)'
complete -c qom-get -s v -l verbose -d 'Print the wire traffic on stderr ("-> " sent, "<- " received)'
complete -c qom-get -s j -l json -d 'Print JSON: the value, or with several properties one object mapping each PATH.PROPERTY to its value'
complete -c qom-get -s h -l help -d 'Print help (see more with \'--help\')'
complete -c qom-get -s V -l version -d 'Print version'
