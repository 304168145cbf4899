//! Just enough netlink for `netfault`: a [`Message`] encoder (header, a
//! family header, attributes and nests, 4-byte aligned as netlink(7)
//! wants), a [`Socket`] that sends one request and collects the kernel's
//! acks, and [`parse_replies`], which reads those acks defensively.
//!
//! Hand-written rather than a crate: rustables is GPL-3 and has no numgen,
//! the nftables-JSON crates run an `nft` binary the user may not have,
//! netlink-packet-route has no tbf or netem option types and rtnetlink
//! brings tokio. The few messages needed here take a few hundred lines and
//! keep the sandbox's init small. Safe Rust only: the socket is nix's.

use super::sys::retry_eintr;
use nix::errno::Errno;
use nix::sys::socket::{
    self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, sockopt,
};
use nix::sys::time::{TimeVal, TimeValLike};
use std::collections::BTreeSet;
use std::io::{self, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd};

/// `struct nlmsghdr`: length, type, flags, sequence number, port id.
pub const NLMSG_HDRLEN: usize = 16;
const NLA_HDRLEN: usize = 4;

pub const NLMSG_ERROR: u16 = 2;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLM_F_APPEND: u16 = 0x800;
/// Marks an attribute whose payload is more attributes. nf_tables expects
/// it (libnftnl sets it); tc's option nests go without, as iproute2's do.
pub const NLA_F_NESTED: u16 = 0x8000;

/// How long to wait for the kernel's answer. It answers while handling the
/// send, so this only bounds a kernel that never does.
const REPLY_TIMEOUT_SECONDS: i64 = 5;
/// Room for one reply: an error echoes the request it refuses, and the
/// largest request `netfault` makes is a 16 KiB chunk of set elements.
const RECV_BUFFER_BYTES: usize = 64 * 1024;

pub const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// A netlink attribute or message is longer than its length field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong;

impl From<TooLong> for io::Error {
    fn from(_: TooLong) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the netlink message is longer than its length field holds",
        )
    }
}

/// One netlink message under construction. Lengths are written when a nest
/// or the message ends; one that does not fit its field makes
/// [`Message::finish`] fail instead of sending a corrupt message.
#[derive(Debug)]
pub struct Message {
    buf: Vec<u8>,
    too_long: bool,
}

impl Message {
    pub fn new(ty: u16, flags: u16, seq: u32) -> Message {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        // Port id 0: the kernel fills in ours.
        buf.extend_from_slice(&0u32.to_ne_bytes());
        Message {
            buf,
            too_long: false,
        }
    }

    /// Fixed bytes after the header or at the start of a nest (a family
    /// header such as `struct nfgenmsg` or `struct tcmsg`, netem's
    /// `struct tc_netem_qopt`), padded to 4 bytes.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Message {
        self.buf.extend_from_slice(bytes);
        self.pad();
        self
    }

    pub fn attr(&mut self, ty: u16, payload: &[u8]) -> &mut Message {
        let len = NLA_HDRLEN + payload.len();
        let len16 = self.checked_len(len);
        self.buf.extend_from_slice(&len16.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
        self
    }

    /// A NUL-terminated string (NLA_NUL_STRING, and what NLA_STRING
    /// accepts too).
    pub fn attr_str(&mut self, ty: u16, s: &str) -> &mut Message {
        let mut bytes = Vec::with_capacity(s.len() + 1);
        bytes.extend_from_slice(s.as_bytes());
        bytes.push(0);
        self.attr(ty, &bytes)
    }

    /// nf_tables numbers are big-endian.
    pub fn attr_be32(&mut self, ty: u16, v: u32) -> &mut Message {
        self.attr(ty, &v.to_be_bytes())
    }

    /// rtnetlink (tc) numbers are in host order.
    pub fn attr_u32(&mut self, ty: u16, v: u32) -> &mut Message {
        self.attr(ty, &v.to_ne_bytes())
    }

    pub fn attr_u64(&mut self, ty: u16, v: u64) -> &mut Message {
        self.attr(ty, &v.to_ne_bytes())
    }

    /// An attribute holding whatever `body` adds.
    pub fn nest(&mut self, ty: u16, body: impl FnOnce(&mut Message)) -> &mut Message {
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        body(self);
        let len16 = self.checked_len(self.buf.len() - start);
        self.buf[start..start + 2].copy_from_slice(&len16.to_ne_bytes());
        self
    }

    /// The message's bytes, its length written in.
    pub fn finish(mut self) -> Result<Vec<u8>, TooLong> {
        let len = u32::try_from(self.buf.len()).map_err(|_| TooLong)?;
        if self.too_long {
            return Err(TooLong);
        }
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        Ok(self.buf)
    }

    fn checked_len(&mut self, len: usize) -> u16 {
        u16::try_from(len).unwrap_or_else(|_| {
            self.too_long = true;
            0
        })
    }

    fn pad(&mut self) {
        self.buf.resize(align4(self.buf.len()), 0);
    }
}

/// One message from the kernel, as far as a request's sender cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// NLMSG_ERROR with error 0: the request with this sequence number
    /// was done.
    Ack { seq: u32 },
    /// NLMSG_ERROR with an errno: the request was refused.
    Refused { seq: u32, errno: Errno },
    /// Anything else (NLMSG_DONE, a dump's data): not waited for here.
    Other { seq: u32, ty: u16 },
}

/// The messages in one datagram. A length that is too short or runs past
/// the end (a truncated or corrupt datagram) ends the list: nothing after
/// it can be trusted.
pub fn parse_replies(buf: &[u8]) -> Vec<Reply> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= NLMSG_HDRLEN {
        let len = read_u32(rest, 0) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            break;
        }
        let ty = read_u16(rest, 4);
        let seq = read_u32(rest, 8);
        let payload = &rest[NLMSG_HDRLEN..len];
        let reply = match ty {
            NLMSG_ERROR if payload.len() >= 4 => {
                // A negative errno, as the kernel writes it; a positive
                // one is read the same way rather than trusted to be 0.
                let code = read_u32(payload, 0) as i32;
                match code {
                    0 => Reply::Ack { seq },
                    c => Reply::Refused {
                        seq,
                        errno: Errno::from_raw(c.saturating_abs()),
                    },
                }
            }
            NLMSG_ERROR => Reply::Refused {
                seq,
                errno: Errno::EBADMSG,
            },
            ty => Reply::Other { seq, ty },
        };
        out.push(reply);
        rest = &rest[align4(len).min(rest.len())..];
    }
    out
}

fn read_u16(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Why a request did not go through.
#[derive(Debug)]
pub enum RequestError {
    Send(io::Error),
    Receive(io::Error),
    /// The kernel refused the message with this sequence number.
    Refused {
        seq: u32,
        errno: Errno,
    },
    /// No answer came for this sequence number.
    NoAnswer {
        seq: u32,
    },
}

/// A netlink socket bound to a kernel-assigned port.
pub struct Socket {
    fd: OwnedFd,
}

impl Socket {
    pub fn open(protocol: SockProtocol) -> io::Result<Socket> {
        let fd = socket::socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            protocol,
        )?;
        socket::bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        socket::setsockopt(
            &fd,
            sockopt::ReceiveTimeout,
            &TimeVal::seconds(REPLY_TIMEOUT_SECONDS),
        )?;
        Ok(Socket { fd })
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Grows the socket's buffers (never shrinks them) to hold a request
    /// of `send_bytes` and `answers` acks. Best effort: the kernel caps
    /// both at net.core.{w,r}mem_max; a request still too large fails to
    /// send with EMSGSIZE, answers that overflow fail with ENOBUFS.
    pub fn reserve(&self, send_bytes: usize, answers: usize) {
        // What one small skb costs the receive buffer, generously.
        const BYTES_PER_ANSWER: usize = 1024;
        let grow = |current: nix::Result<usize>, wanted: usize| match current {
            Ok(have) if have >= wanted => None,
            _ => Some(wanted),
        };
        if let Some(b) = grow(socket::getsockopt(&self.fd, sockopt::SndBuf), send_bytes) {
            let _ = socket::setsockopt(&self.fd, sockopt::SndBuf, &b);
        }
        let recv_bytes = answers.saturating_mul(BYTES_PER_ANSWER);
        if let Some(b) = grow(socket::getsockopt(&self.fd, sockopt::RcvBuf), recv_bytes) {
            let _ = socket::setsockopt(&self.fd, sockopt::RcvBuf, &b);
        }
    }

    /// Sends `request` (one message or an nfnetlink batch) and waits for
    /// an ack of each sequence number in `expected`, which must all carry
    /// NLM_F_ACK. The kernel handles the request inside the send and
    /// queues every answer before the send returns, so after a refusal the
    /// rest is drained without waiting and the first refusal is returned:
    /// later ones are usually its consequences.
    pub fn request(&self, request: &[u8], expected: &[u32]) -> Result<(), RequestError> {
        let sent = retry_eintr(|| socket::send(self.fd.as_raw_fd(), request, MsgFlags::empty()))
            .map_err(|e| RequestError::Send(e.into()))?;
        if sent != request.len() {
            return Err(RequestError::Send(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {sent} of {} bytes", request.len()),
            )));
        }
        let mut waiting: BTreeSet<u32> = expected.iter().copied().collect();
        let mut refused: Option<(u32, Errno)> = None;
        let mut buf = vec![0u8; RECV_BUFFER_BYTES];
        while !waiting.is_empty() {
            let flags = match refused {
                Some(_) => MsgFlags::MSG_DONTWAIT,
                None => MsgFlags::empty(),
            };
            let received = retry_eintr(|| {
                let mut iov = [IoSliceMut::new(&mut buf)];
                socket::recvmsg::<NetlinkAddr>(self.fd.as_raw_fd(), &mut iov, None, flags)
                    .map(|m| (m.bytes, m.address))
            });
            let (n, from) = match received {
                Ok(r) => r,
                Err(Errno::EAGAIN) => break,
                Err(e) => return Err(RequestError::Receive(e.into())),
            };
            // Only the kernel (port 0) answers requests.
            if from.is_some_and(|a| a.pid() != 0) {
                continue;
            }
            for reply in parse_replies(&buf[..n.min(buf.len())]) {
                match reply {
                    Reply::Ack { seq } => {
                        waiting.remove(&seq);
                    }
                    Reply::Refused { seq, errno } => {
                        waiting.remove(&seq);
                        refused.get_or_insert((seq, errno));
                    }
                    Reply::Other { .. } => {}
                }
            }
        }
        match (refused, waiting.first()) {
            (Some((seq, errno)), _) => Err(RequestError::Refused { seq, errno }),
            (None, Some(&seq)) => Err(RequestError::NoAnswer { seq }),
            (None, None) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NLMSG_DONE: u16 = 3;

    fn u16_at(b: &[u8], at: usize) -> u16 {
        read_u16(b, at)
    }

    #[test]
    fn a_message_is_a_header_then_attributes_padded_to_four_bytes() {
        let mut m = Message::new(0x0a00, NLM_F_REQUEST | NLM_F_ACK, 7);
        m.raw(&[1, 0, 0, 0])
            .attr_str(1, "lo")
            .attr_be32(2, 0x0102_0304);
        let b = m.finish().unwrap();
        // 16 header + 4 raw + (4 + "lo\0" = 7 -> 8) + (4 + 4).
        assert_eq!(b.len(), 16 + 4 + 8 + 8);
        assert_eq!(read_u32(&b, 0) as usize, b.len());
        assert_eq!(u16_at(&b, 4), 0x0a00);
        assert_eq!(u16_at(&b, 6), NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(read_u32(&b, 8), 7);
        // The string attribute's length counts its NUL, not the padding.
        assert_eq!(u16_at(&b, 20), 7);
        assert_eq!(u16_at(&b, 22), 1);
        assert_eq!(&b[24..28], b"lo\0\0");
        assert_eq!(u16_at(&b, 28), 8);
        assert_eq!(&b[32..36], &[1, 2, 3, 4]);
    }

    #[test]
    fn a_nest_length_covers_its_attributes_and_their_padding() {
        let mut m = Message::new(1, 0, 0);
        m.nest(NLA_F_NESTED | 4, |m| {
            m.attr(1, &[0xaa]);
            m.nest(NLA_F_NESTED | 2, |m| {
                m.attr(1, &[0xbb, 0xcc]);
            });
        });
        let b = m.finish().unwrap();
        // outer: 4 + (4 + 1 -> 8) + inner (4 + (4 + 2 -> 8)) = 24
        assert_eq!(u16_at(&b, 16), 24);
        assert_eq!(u16_at(&b, 18), NLA_F_NESTED | 4);
        assert_eq!(u16_at(&b, 20), 5);
        assert_eq!(u16_at(&b, 28), 12);
        assert_eq!(u16_at(&b, 30), NLA_F_NESTED | 2);
        assert_eq!(u16_at(&b, 32), 6);
        assert_eq!(b.len(), 16 + 24);
        assert_eq!(read_u32(&b, 0), 40);
    }

    #[test]
    fn an_attribute_longer_than_its_length_field_fails_the_message() {
        let mut m = Message::new(1, 0, 0);
        m.attr(1, &vec![0; 70_000]);
        assert_eq!(m.finish(), Err(TooLong));
        let mut m = Message::new(1, 0, 0);
        m.nest(2, |m| {
            for _ in 0..20 {
                m.attr(1, &[0; 4000]);
            }
        });
        assert_eq!(m.finish(), Err(TooLong));
    }

    fn reply(ty: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = Message::new(ty, 0, seq);
        m.raw(payload);
        m.finish().unwrap()
    }

    #[test]
    fn acks_and_errors_are_read_by_sequence_number() {
        let mut buf = reply(NLMSG_ERROR, 3, &0i32.to_ne_bytes());
        let mut refused = (-2i32).to_ne_bytes().to_vec();
        refused.extend_from_slice(&[0; 16]); // the echoed request header
        buf.extend(reply(NLMSG_ERROR, 4, &refused));
        buf.extend(reply(NLMSG_DONE, 5, &[0; 4]));
        assert_eq!(
            parse_replies(&buf),
            [
                Reply::Ack { seq: 3 },
                Reply::Refused {
                    seq: 4,
                    errno: Errno::ENOENT
                },
                Reply::Other {
                    seq: 5,
                    ty: NLMSG_DONE
                },
            ]
        );
    }

    #[test]
    fn truncated_or_corrupt_replies_end_the_list_without_panicking() {
        let ok = reply(NLMSG_ERROR, 1, &0i32.to_ne_bytes());
        // Cut in the middle of the second message.
        let mut buf = ok.clone();
        buf.extend_from_slice(&ok[..10]);
        assert_eq!(parse_replies(&buf), [Reply::Ack { seq: 1 }]);
        // A length shorter than a header, and one past the end.
        let mut short = ok.clone();
        short[0..4].copy_from_slice(&3u32.to_ne_bytes());
        assert_eq!(parse_replies(&short), []);
        let mut long = ok.clone();
        long[0..4].copy_from_slice(&999u32.to_ne_bytes());
        assert_eq!(parse_replies(&long), []);
        // An error message too short to hold its errno.
        let bad = reply(NLMSG_ERROR, 9, &[]);
        assert_eq!(
            parse_replies(&bad),
            [Reply::Refused {
                seq: 9,
                errno: Errno::EBADMSG
            }]
        );
        // Every prefix of a valid datagram parses without panicking.
        for n in 0..buf.len() {
            let _ = parse_replies(&buf[..n]);
        }
        assert_eq!(parse_replies(&[]), []);
    }
}
