//! Linux batched datagram I/O: one `recvmmsg` takes up to [`BATCH`]
//! requests, one `sendmmsg` sends their replies. Fewer syscalls per request
//! is most of what separates a fast UDP tracker from a slow one.
//!
//! The buffers and the kernel headers pointing into them are allocated once
//! per worker and never resized, so every pointer handed to the kernel stays
//! valid for the call it is used in.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::ptr::null_mut;

use socket2::SockAddr;

/// Datagrams per syscall.
pub const BATCH: usize = 32;

/// Reused receive/send state of one worker.
pub struct Batch {
    recv: Vec<[u8; super::worker::RECV_BUF]>,
    send: Vec<[u8; super::worker::MAX_REPLY]>,
    names: Vec<libc::sockaddr_storage>,
    iov: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
    /// Destination and length of each reply in `send`.
    replies: Vec<(SockAddr, usize)>,
}

/// Points one kernel message header at an address and one buffer.
fn arm(
    msg: &mut libc::mmsghdr,
    name: *mut libc::c_void,
    name_len: libc::socklen_t,
    iov: &mut libc::iovec,
) {
    let hdr = &mut msg.msg_hdr;
    hdr.msg_name = name;
    hdr.msg_namelen = name_len;
    hdr.msg_iov = iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = null_mut();
    hdr.msg_controllen = 0;
    hdr.msg_flags = 0;
    msg.msg_len = 0;
}

/// One received datagram.
pub struct Received<'a> {
    pub packet: &'a [u8],
    pub source: SocketAddr,
    pub truncated: bool,
}

impl Batch {
    /// Allocates the buffers (about 200 KiB).
    pub fn new() -> Self {
        Self {
            recv: vec![[0u8; super::worker::RECV_BUF]; BATCH],
            send: vec![[0u8; super::worker::MAX_REPLY]; BATCH],
            // SAFETY: all-zero is a valid value for these plain C structs.
            names: vec![unsafe { zeroed() }; BATCH],
            iov: vec![unsafe { zeroed() }; BATCH],
            msgs: vec![unsafe { zeroed() }; BATCH],
            replies: Vec::with_capacity(BATCH),
        }
    }

    /// Blocks (up to the socket's read timeout) for at least one datagram and
    /// takes up to [`BATCH`]; returns how many arrived.
    pub fn receive(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        for i in 0..BATCH {
            self.iov[i] = libc::iovec {
                iov_base: self.recv[i].as_mut_ptr().cast(),
                iov_len: self.recv[i].len(),
            };
            let name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            let len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            arm(&mut self.msgs[i], name, len, &mut self.iov[i]);
        }
        self.replies.clear();
        // SAFETY: `msgs` holds BATCH initialised headers whose name and iovec
        // pointers point into buffers owned by `self`, alive for this call.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// The `i`-th received datagram (None if its source address is unusable).
    pub fn received(&self, i: usize) -> Option<Received<'_>> {
        let msg = self.msgs.get(i)?;
        let len = (msg.msg_len as usize).min(super::worker::RECV_BUF);
        // SAFETY: the kernel filled `names[i]` and set `msg_namelen`.
        let addr = unsafe { SockAddr::new(self.names[i], msg.msg_hdr.msg_namelen) };
        let source = addr.as_socket()?;
        Some(Received {
            packet: &self.recv[i][..len],
            source,
            truncated: msg.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
        })
    }

    /// Splits into the received data and a free reply buffer for datagram `i`.
    pub fn reply_slot(&mut self, i: usize) -> (&[u8], &mut [u8; super::worker::MAX_REPLY]) {
        let len = (self.msgs[i].msg_len as usize).min(super::worker::RECV_BUF);
        let slot = self.replies.len();
        (&self.recv[i][..len], &mut self.send[slot])
    }

    /// Queues the reply just written into the slot from [`Batch::reply_slot`].
    pub fn queue_reply(&mut self, to: SocketAddr, len: usize) {
        self.replies.push((SockAddr::from(to), len));
    }

    /// Sends every queued reply; returns the bytes sent.
    pub fn send(&mut self, socket: &UdpSocket) -> u64 {
        let count = self.replies.len();
        for (i, (addr, len)) in self.replies.iter().enumerate() {
            self.iov[i] = libc::iovec {
                iov_base: self.send[i].as_mut_ptr().cast(),
                iov_len: *len,
            };
            arm(
                &mut self.msgs[i],
                addr.as_ptr() as *mut libc::c_void,
                addr.len(),
                &mut self.iov[i],
            );
        }
        let mut sent = 0usize;
        let mut bytes = 0u64;
        while sent < count {
            // SAFETY: headers `sent..count` point into `self.send` and
            // `self.replies`, which are not touched during the call.
            let n = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    self.msgs[sent..].as_mut_ptr(),
                    (count - sent) as libc::c_uint,
                    0,
                )
            };
            if n <= 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // Skip the datagram the kernel refused (e.g. unreachable) and go on.
                tracing::debug!("sendmmsg: {e}");
                sent += 1;
                continue;
            }
            for m in &self.msgs[sent..sent + n as usize] {
                bytes += u64::from(m.msg_len);
            }
            sent += n as usize;
        }
        self.replies.clear();
        bytes
    }
}
