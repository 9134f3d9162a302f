use super::*;

fn qmp_error(class: &str, desc: &str) -> QmpError {
    QmpError {
        class: class.into(),
        desc: desc.into(),
    }
}

#[test]
fn errnos_from_qemu_errors() {
    let cases = [
        (
            "DeviceNotFound",
            "Device 'x' not found",
            libc::ENOENT,
            libc::ENOENT,
        ),
        (
            "GenericError",
            "Property 'iothread.nope' not found",
            libc::ENOENT,
            libc::ENOENT,
        ),
        (
            "GenericError",
            "Property 'iothread.type' is not writable",
            libc::EIO,
            libc::EACCES,
        ),
        (
            "GenericError",
            "Insufficient permission to perform this operation",
            libc::EIO,
            libc::EACCES,
        ),
        (
            "GenericError",
            "Attempt to set property 'drive' on device 'vblk0' (type 'virtio-blk-device') after it was realized",
            libc::EIO,
            libc::EPERM,
        ),
        (
            "GenericError",
            "Parameter 'poll-max-ns' expects uint64",
            libc::EIO,
            libc::EINVAL,
        ),
    ];
    for (class, desc, get, set) in cases {
        let e = qmp_error(class, desc);
        assert_eq!((errno_of_get(&e), errno_of_set(&e)), (get, set), "{desc}");
    }
}

#[test]
fn link_targets_are_relative() {
    let cases = [
        (
            "/",
            "/machine/peripheral/vblk0",
            "/objects/io0",
            "../../../objects/io0",
        ),
        ("/", "/machine", "/machine/q35", "../machine/q35"),
        ("/", "/", "/machine", "machine"),
        ("/", "/machine/x", "", EMPTY_LINK),
        ("/", "/a", "/odd/na/me", "../odd/na/me"),
        (
            "/machine",
            "/machine/peripheral/vblk0",
            "/machine/q35",
            "../../q35",
        ),
        (
            "/machine",
            "/machine/peripheral",
            "/objects/io0",
            EMPTY_LINK,
        ),
        ("/machine", "/machine", "/machine", "."),
    ];
    for (root, from, target, want) in cases {
        assert_eq!(
            String::from_utf8(relative_target(root, from, target)).unwrap(),
            want,
            "{from} -> {target} under {root}"
        );
    }
}
