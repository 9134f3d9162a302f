complete -c qom-list -s s -l socket -d 'Monitor address: a Unix socket PATH, unix:PATH, unix:@NAME (abstract), HOST:PORT, tcp:HOST:PORT, [IPV6]:PORT, or listen:ADDR to wait for QEMU to connect' -r
complete -c qom-list -l timeout -d 'Seconds allowed for connecting plus the handshake, and for each reply (\'none\': no limit) [default: 10]' -r
complete -c qom-list -l max-message -d 'Largest message accepted from the server, in bytes' -r
complete -c qom-list -l wait -d 'Retry connecting until the timeout while the socket is missing or refuses (QEMU starting)'
complete -c qom-list -s v -l verbose -d 'Print the wire traffic on stderr ("-> " sent, "<- " received)'
complete -c qom-list -s l -l long -d 'Add each property\'s type, after a tab'
complete -c qom-list -s j -l json -d 'Print JSON, one compact document per line (for jq)'
complete -c qom-list -l pretty -d 'Print indented JSON'
complete -c qom-list -s h -l help -d 'Print help (see more with \'--help\')'
complete -c qom-list -s V -l version -d 'Print version'
