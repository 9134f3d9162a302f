complete -c qom-tree -s s -l socket -d 'Monitor address: a Unix socket PATH, unix:PATH, unix:@NAME (abstract), HOST:PORT, tcp:HOST:PORT, [IPV6]:PORT, or listen:ADDR to wait for QEMU to connect' -r
complete -c qom-tree -l timeout -d 'Seconds allowed for connecting plus the handshake, and for each reply (\'none\': no limit) [default: 10]' -r
complete -c qom-tree -l max-message -d 'Largest message accepted from the server, in bytes' -r
complete -c qom-tree -l depth -d 'Walk at most N levels of children below PATH (0: PATH alone); with --json, objects cut off say "truncated": true' -r
complete -c qom-tree -l wait -d 'Retry connecting until the timeout while the socket is missing or refuses (QEMU starting)'
complete -c qom-tree -s v -l verbose -d 'Print the wire traffic on stderr ("-> " sent, "<- " received)'
complete -c qom-tree -s j -l json -d 'Print the tree as one JSON document: {"path", "properties": [{"name", "type", "value" or "error"}], "children": [...]}'
complete -c qom-tree -l no-list-get -d 'Do not try qom-list-get (QEMU >= 10.1); use qom-list and qom-get per property'
complete -c qom-tree -l strict -d 'Exit with status 1 when some properties cannot be read, too'
complete -c qom-tree -s h -l help -d 'Print help (see more with \'--help\')'
complete -c qom-tree -s V -l version -d 'Print version'
