//! Passing file descriptors with a message (SCM_RIGHTS), and waiting for
//! one to be readable: the one place of the library with `unsafe` code.
//!
//! QEMU's `getfd` and `add-fd` take the descriptors that arrive as
//! ancillary data of the same `sendmsg` as the command's bytes (QMP-NOTES:
//! "File descriptors").

use std::io;
use std::os::fd::RawFd;

/// The most descriptors one message carries (QEMU takes a handful; the
/// kernel's limit is SCM_MAX_FD, 253).
pub const MAX_FDS: usize = 16;

/// Sends `bytes` on the Unix socket `sock` with `fds` attached, in one
/// `sendmsg`; returns how many bytes went (the rest is written as usual;
/// the descriptors travel with the first byte).
///
/// # Errors
/// The system call's error; `InvalidInput` for more than [`MAX_FDS`]
/// descriptors or no bytes to carry them.
pub(crate) fn send_with_fds(sock: RawFd, bytes: &[u8], fds: &[RawFd]) -> io::Result<usize> {
    if fds.len() > MAX_FDS || bytes.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "at most 16 descriptors, with at least one byte",
        ));
    }
    let fd_bytes = std::mem::size_of_val(fds);
    // SAFETY: CMSG_SPACE only computes a size from its argument.
    let space = unsafe { libc::CMSG_SPACE(fd_bytes as u32) } as usize;
    // u64 words keep the control buffer aligned for cmsghdr.
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: msghdr is plain data; every pointer stored in it (the iovec,
    // the control buffer) outlives the sendmsg call below, and the sizes
    // given are those of the buffers. CMSG_FIRSTHDR of a control buffer of
    // CMSG_SPACE(fd_bytes) bytes is non-null and has room for the header
    // and CMSG_LEN(fd_bytes) bytes of data, which the copy fills exactly.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = space as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes as u32) as _;
        std::ptr::copy_nonoverlapping(fds.as_ptr() as *const u8, libc::CMSG_DATA(cmsg), fd_bytes);
        let sent = libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL);
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sent as usize)
    }
}

/// Whether `fd` is an open descriptor of this process.
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags; any int is a valid
    // argument (a closed or invalid one gives EBADF).
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Waits up to `timeout` for `fd` to be readable (data, or the peer's
/// end); `false` when the time passed first or a signal came.
///
/// # Errors
/// poll(2)'s error other than EINTR.
pub fn wait_readable(fd: RawFd, timeout: std::time::Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd, which poll(2) only writes revents of.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    match n {
        n if n > 0 => Ok(true),
        0 => Ok(false),
        _ => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}

/// Sends `signal` to process `pid` (the shell stopping the QEMU it
/// started).
///
/// # Errors
/// kill(2)'s error.
#[cfg(feature = "shell")]
pub(crate) fn signal(pid: i32, signal: i32) -> io::Result<()> {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
