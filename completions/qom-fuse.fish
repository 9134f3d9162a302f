complete -c qom-fuse -s s -l socket -d 'Monitor address: a Unix socket PATH, unix:PATH, unix:@NAME (abstract), HOST:PORT, tcp:HOST:PORT, [IPV6]:PORT, or listen:ADDR to wait for QEMU to connect' -r
complete -c qom-fuse -l timeout -d 'Seconds allowed for connecting plus the handshake, and for each reply (\'none\': no limit) [default: 10]' -r
complete -c qom-fuse -l max-message -d 'Largest message accepted from the server, in bytes' -r
complete -c qom-fuse -s o -d 'Mount options: allow_other (let other users in; needs user_allow_other in /etc/fuse.conf unless root), ro' -r
complete -c qom-fuse -l cache-ttl -d 'Seconds that directory listings, and the values behind sizes and link targets, stay cached (0: none); an open reads its value afresh unless it was read within 0.1 s' -r
complete -c qom-fuse -l root -d 'The object at the mount\'s root' -r
complete -c qom-fuse -l wait -d 'Retry connecting until the timeout while the socket is missing or refuses (QEMU starting)'
complete -c qom-fuse -s v -l verbose -d 'Print the wire traffic on stderr ("-> " sent, "<- " received)'
complete -c qom-fuse -l read-only -d 'Refuse every write (EROFS); every file 0444'
complete -c qom-fuse -s h -l help -d 'Print help (see more with \'--help\')'
complete -c qom-fuse -s V -l version -d 'Print version'
