complete -c qom-set -s s -l socket -d 'Monitor address: a Unix socket PATH, unix:PATH, unix:@NAME (abstract), HOST:PORT, tcp:HOST:PORT, [IPV6]:PORT, or listen:ADDR to wait for QEMU to connect' -r
complete -c qom-set -l timeout -d 'Seconds allowed for connecting plus the handshake, and for each reply (\'none\': no limit) [default: 10]' -r
complete -c qom-set -l max-message -d 'Largest message accepted from the server, in bytes' -r
complete -c qom-set -l wait -d 'Retry connecting until the timeout while the socket is missing or refuses (QEMU starting)'
complete -c qom-set -s v -l verbose -d 'Print the wire traffic on stderr ("-> " sent, "<- " received)'
complete -c qom-set -l json -d 'Send VALUE as JSON, whatever the property\'s type'
complete -c qom-set -l string -d 'Send VALUE as a string, whatever the property\'s type'
complete -c qom-set -s h -l help -d 'Print help (see more with \'--help\')'
complete -c qom-set -s V -l version -d 'Print version'
