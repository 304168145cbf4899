//! `--net-delay` without netem: the test's output chain hands each
//! selected packet to NFQUEUE queue [`QUEUE_NUM`] (`netfault.rs`), and a
//! [`Delayer`] in the test's network namespace reads the packets' ids from
//! the queue's netlink socket and gives each back (NF_ACCEPT) once its
//! delay has passed.
//!
//! Why the xtables NFQUEUE target through nf_tables' compat layer (an
//! expression named "target") and not nftables' own `queue` expression:
//! kernels built without nft_queue (as these machines') still have
//! xt_NFQUEUE and nft_compat, because iptables-nft needs them. Its
//! revision 3 carries NFQ_FLAG_BYPASS, which lets packets through while
//! no socket serves the queue.
//!
//! Who runs it: the sandbox's init forks it once the test's process has
//! made its network namespace, and the delayer joins that namespace
//! (setns). A child, not a thread: the init forks the test and must stay
//! single-threaded, and a delayer that crashes takes only itself down.
//! It lives until the init kills what is left when the test ends (its
//! CPU time is counted with the test's).
//!
//! Never a black hole: with the queue full (more than [`QUEUE_MAXLEN`]
//! packets waiting) or the delayer's socket overrun, the kernel lets the
//! packet through undelayed (NFQA_CFG_F_FAIL_OPEN); when the delayer
//! dies, its socket closes, the packets it held are dropped once (TCP
//! retransmits them) and later ones bypass the queue. The test then sees
//! less delay, never a hang.
//!
//! Jitter is netem's default: uniform in ±jitter around the delay, never
//! below zero, and packets leave in the order of their due times, so a
//! jitter larger than the gap between two packets reorders them, as
//! netem's time-sorted queue does.

use super::netlink::{Message, NLA_F_NESTED, NLM_F_ACK, NLM_F_REQUEST, RequestError, Socket};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sys::socket::{self, MsgFlags, SockProtocol};
use nix::sys::time::TimeSpec;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

/// The queue the output chain's rules send packets to: the namespace is
/// the test's own, so one number serves.
pub const QUEUE_NUM: u16 = 0;
/// The xt_NFQUEUE revision whose info is `struct xt_NFQ_info_v3`.
pub const TARGET_REVISION: u32 = 3;
/// Packets held at once before the kernel lets more through undelayed:
/// netem's default limit.
pub const QUEUE_MAXLEN: u32 = 1000;

// From linux/netfilter/xt_NFQUEUE.h, nfnetlink.h, nfnetlink_queue.h.
const NFQ_FLAG_BYPASS: u16 = 0x01;
const NFNL_SUBSYS_QUEUE: u16 = 3;
const NFQNL_MSG_PACKET: u16 = 0;
const NFQNL_MSG_VERDICT: u16 = 1;
const NFQNL_MSG_CONFIG: u16 = 2;
const NFQA_PACKET_HDR: u16 = 1;
const NFQA_VERDICT_HDR: u16 = 2;
const NFQA_CFG_CMD: u16 = 1;
const NFQA_CFG_PARAMS: u16 = 2;
const NFQA_CFG_QUEUE_MAXLEN: u16 = 3;
const NFQA_CFG_MASK: u16 = 4;
const NFQA_CFG_FLAGS: u16 = 5;
const NFQNL_CFG_CMD_BIND: u8 = 1;
const NFQNL_COPY_META: u8 = 1;
const NFQA_CFG_F_FAIL_OPEN: u32 = 0x01;
/// Queue GSO packets whole: no segmenting, and one verdict for the lot.
const NFQA_CFG_F_GSO: u32 = 0x04;
const NF_ACCEPT: u32 = 1;
const NFNETLINK_V0: u8 = 0;
const AF_UNSPEC: u8 = 0;

/// `struct xt_NFQ_info_v3` (queuenum, queues_total, flags: host order)
/// padded to XT_ALIGN, 8 bytes, which xt_check_target demands exactly.
pub fn target_info() -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0..2].copy_from_slice(&QUEUE_NUM.to_ne_bytes());
    b[2..4].copy_from_slice(&1u16.to_ne_bytes());
    b[4..6].copy_from_slice(&NFQ_FLAG_BYPASS.to_ne_bytes());
    b
}

/// A queue message with its `struct nfgenmsg` (res_id: the queue,
/// big-endian).
fn queue_message(ty: u16, flags: u16, seq: u32) -> Message {
    let mut m = Message::new((NFNL_SUBSYS_QUEUE << 8) | ty, NLM_F_REQUEST | flags, seq);
    let q = QUEUE_NUM.to_be_bytes();
    m.raw(&[AF_UNSPEC, NFNETLINK_V0, q[0], q[1]]);
    m
}

/// Bind the queue, then: copy metadata only (the id is all we need), at
/// most [`QUEUE_MAXLEN`] packets, fail open, GSO packets whole. Each
/// message acked; sequence numbers 1 and 2.
fn config_request() -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut bind = queue_message(NFQNL_MSG_CONFIG, NLM_F_ACK, 1);
    // struct nfqnl_msg_config_cmd: command, pad, pf (unused since 3.8).
    bind.attr(NFQA_CFG_CMD, &[NFQNL_CFG_CMD_BIND, 0, 0, 0]);
    let mut params = queue_message(NFQNL_MSG_CONFIG, NLM_F_ACK, 2);
    // struct nfqnl_msg_config_params, packed: copy_range, copy_mode.
    let mut p = Vec::with_capacity(5);
    p.extend_from_slice(&0u32.to_be_bytes());
    p.push(NFQNL_COPY_META);
    let flags = NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO;
    params
        .attr(NFQA_CFG_PARAMS, &p)
        .attr_be32(NFQA_CFG_QUEUE_MAXLEN, QUEUE_MAXLEN)
        .attr_be32(NFQA_CFG_MASK, flags)
        .attr_be32(NFQA_CFG_FLAGS, flags);
    for m in [bind, params] {
        // Fixed, small messages: never too long.
        bytes.extend(m.finish().unwrap_or_default());
    }
    bytes
}

/// NFQNL_MSG_VERDICT: let packet `id` go on.
fn verdict(id: u32) -> Vec<u8> {
    let mut m = queue_message(NFQNL_MSG_VERDICT, 0, 0);
    let mut hdr = [0u8; 8];
    hdr[0..4].copy_from_slice(&NF_ACCEPT.to_be_bytes());
    hdr[4..8].copy_from_slice(&id.to_be_bytes());
    m.attr(NFQA_VERDICT_HDR, &hdr);
    m.finish().unwrap_or_default()
}

/// The packet ids in one datagram from the queue, in order. Anything
/// malformed ends the list, as `netlink::parse_replies` does.
pub fn packet_ids(buf: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= 16 {
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len < 16 || len > rest.len() {
            break;
        }
        let ty = u16::from_ne_bytes([rest[4], rest[5]]);
        // nlmsghdr, then struct nfgenmsg, then attributes.
        if ty == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET && len >= 20 {
            let mut attrs = &rest[20..len];
            while attrs.len() >= 4 {
                let alen = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
                let aty = u16::from_ne_bytes([attrs[2], attrs[3]]) & !NLA_F_NESTED;
                if alen < 4 || alen > attrs.len() {
                    break;
                }
                // struct nfqnl_msg_packet_hdr: packet_id (be32) first.
                if aty == NFQA_PACKET_HDR && alen >= 8 {
                    out.push(u32::from_be_bytes([attrs[4], attrs[5], attrs[6], attrs[7]]));
                    break;
                }
                attrs = &attrs[super::netlink::align4(alen).min(attrs.len())..];
            }
        }
        rest = &rest[super::netlink::align4(len).min(rest.len())..];
    }
    out
}

/// Packets waiting, by due time (then arrival: equal due times keep
/// their order).
#[derive(Debug)]
pub struct Schedule {
    delay: Duration,
    jitter: Duration,
    waiting: BinaryHeap<Reverse<(Instant, u64, u32)>>,
    arrivals: u64,
    rng: u64,
}

impl Schedule {
    pub fn new(delay: Duration, jitter: Duration, seed: u64) -> Schedule {
        Schedule {
            delay,
            jitter,
            waiting: BinaryHeap::new(),
            arrivals: 0,
            // xorshift must not start at zero.
            rng: seed | 1,
        }
    }

    /// netem's tabledist without a table: delay + uniform[-jitter, +jitter),
    /// at least zero.
    fn draw(&mut self) -> Duration {
        let jitter_ns = self.jitter.as_nanos() as u64;
        if jitter_ns == 0 {
            return self.delay;
        }
        // xorshift64*: plenty for spreading delays, not for secrets.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) % (2 * jitter_ns);
        let ns = (self.delay.as_nanos() as i128) + i128::from(r) - i128::from(jitter_ns);
        Duration::from_nanos(ns.max(0) as u64)
    }

    pub fn admit(&mut self, id: u32, now: Instant) {
        let due = now + self.draw();
        self.arrivals += 1;
        self.waiting.push(Reverse((due, self.arrivals, id)));
    }

    /// The ids due by `now`, in order.
    pub fn due(&mut self, now: Instant) -> Vec<u32> {
        let mut out = Vec::new();
        while let Some(Reverse((due, _, id))) = self.waiting.peek().copied() {
            if due > now {
                break;
            }
            self.waiting.pop();
            out.push(id);
        }
        out
    }

    pub fn next_due(&self) -> Option<Instant> {
        self.waiting.peek().map(|Reverse((due, _, _))| *due)
    }
}

/// The delayer's socket, bound to the queue.
pub struct Delayer {
    socket: Socket,
    schedule: Schedule,
}

/// Room for a burst of packet messages (about 100 bytes each with META).
const RECV_BYTES: usize = 256 * 1024;
/// What the socket may buffer: a burst of a full queue's messages.
const SOCKET_BUFFER_BYTES: usize = 4 << 20;

impl Delayer {
    /// Binds the queue in the current network namespace. Needs
    /// CAP_NET_ADMIN over it.
    pub fn bind(delay: Duration, jitter: Duration) -> Result<Delayer, String> {
        let socket = Socket::open(SockProtocol::NetlinkNetFilter)
            .map_err(|e| format!("open a netfilter netlink socket for the delayer: {e}"))?;
        socket.reserve(0, SOCKET_BUFFER_BYTES / 1024);
        match socket.request(&config_request(), &[1, 2]) {
            Ok(()) => {}
            Err(RequestError::Refused { seq, errno }) => {
                let what = match seq {
                    1 => "bind NFQUEUE queue 0",
                    _ => "configure NFQUEUE queue 0 (copy meta, fail open)",
                };
                return Err(format!(
                    "{what}: {} (the kernel needs nfnetlink_queue)",
                    io::Error::from(errno)
                ));
            }
            Err(e) => return Err(format!("configure NFQUEUE queue 0: {e:?}")),
        }
        let seed = getrandom::u64().unwrap_or(0x9E37_79B9_7F4A_7C15);
        Ok(Delayer {
            socket,
            schedule: Schedule::new(delay, jitter, seed),
        })
    }

    /// Serves the queue until the process is killed: reads what arrives,
    /// gives back what is due, sleeps until the next is.
    pub fn serve(mut self) -> io::Error {
        let mut buf = vec![0u8; RECV_BYTES];
        loop {
            let timeout = self.schedule.next_due().map(|due| {
                let left = due.saturating_duration_since(Instant::now());
                TimeSpec::from_duration(left)
            });
            let mut fds = [PollFd::new(self.socket.fd().as_fd(), PollFlags::POLLIN)];
            match ppoll(&mut fds, timeout, None) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return e.into(),
            }
            loop {
                let n = socket::recv(
                    self.socket.fd().as_raw_fd(),
                    &mut buf,
                    MsgFlags::MSG_DONTWAIT,
                );
                match n {
                    Ok(0) | Err(Errno::EAGAIN) => break,
                    Ok(n) => {
                        let now = Instant::now();
                        for id in packet_ids(&buf[..n.min(buf.len())]) {
                            self.schedule.admit(id, now);
                        }
                    }
                    // Overrun: the kernel let those packets through
                    // (fail open); carry on.
                    Err(Errno::ENOBUFS | Errno::EINTR) => continue,
                    Err(e) => return e.into(),
                }
            }
            for id in self.schedule.due(Instant::now()) {
                // A packet gone meanwhile (ENOENT) needs nothing more.
                let _ = socket::send(
                    self.socket.fd().as_raw_fd(),
                    &verdict(id),
                    MsgFlags::MSG_DONTWAIT,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_info_is_queue_zero_one_queue_bypass_aligned_to_eight() {
        let info = target_info();
        assert_eq!(info.len(), 8);
        assert_eq!(u16::from_ne_bytes([info[0], info[1]]), QUEUE_NUM);
        assert_eq!(u16::from_ne_bytes([info[2], info[3]]), 1);
        assert_eq!(u16::from_ne_bytes([info[4], info[5]]), NFQ_FLAG_BYPASS);
    }

    #[test]
    fn config_binds_then_sets_meta_copy_and_fail_open() {
        let b = config_request();
        let first = u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize;
        let ty = u16::from_ne_bytes([b[4], b[5]]);
        assert_eq!(ty, (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_CONFIG);
        // nfgenmsg, then NFQA_CFG_CMD with BIND.
        assert_eq!(&b[16..20], &[0, 0, 0, 0]);
        assert_eq!(u16::from_ne_bytes([b[22], b[23]]), NFQA_CFG_CMD);
        assert_eq!(b[24], NFQNL_CFG_CMD_BIND);
        let second = &b[first..];
        // NFQA_CFG_PARAMS: 5 bytes, copy mode META last.
        assert_eq!(u16::from_ne_bytes([second[20], second[21]]), 9);
        assert_eq!(second[28], NFQNL_COPY_META);
        let tail = &second[32..];
        assert_eq!(
            u32::from_be_bytes(tail[4..8].try_into().unwrap()),
            QUEUE_MAXLEN
        );
        assert_eq!(
            u32::from_be_bytes(tail[20..24].try_into().unwrap()),
            NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO
        );
    }

    #[test]
    fn packet_ids_are_read_and_garbage_ends_the_list() {
        let mut m = Message::new((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET, 0, 0);
        m.raw(&[2, 0, 0, 0]);
        m.attr(NFQA_PACKET_HDR, &[0, 0, 1, 2, 8, 0, 3]);
        let one = m.finish().unwrap();
        let mut two = one.clone();
        two.extend(&one);
        assert_eq!(packet_ids(&two), [258, 258]);
        let mut broken = one.clone();
        broken.extend([0xff; 20]);
        assert_eq!(packet_ids(&broken), [258]);
        assert!(packet_ids(&one[..10]).is_empty());
        assert!(packet_ids(&[]).is_empty());
    }

    #[test]
    fn verdicts_accept_the_id() {
        let v = verdict(7);
        assert_eq!(
            u16::from_ne_bytes([v[4], v[5]]),
            (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_VERDICT
        );
        assert_eq!(u32::from_be_bytes(v[24..28].try_into().unwrap()), NF_ACCEPT);
        assert_eq!(u32::from_be_bytes(v[28..32].try_into().unwrap()), 7);
    }

    #[test]
    fn without_jitter_packets_leave_in_order_after_the_delay() {
        let t0 = Instant::now();
        let mut s = Schedule::new(Duration::from_millis(50), Duration::ZERO, 1);
        s.admit(1, t0);
        s.admit(2, t0);
        s.admit(3, t0 + Duration::from_millis(10));
        assert!(s.due(t0 + Duration::from_millis(49)).is_empty());
        assert_eq!(s.due(t0 + Duration::from_millis(50)), [1, 2]);
        assert_eq!(s.next_due(), Some(t0 + Duration::from_millis(60)));
        assert_eq!(s.due(t0 + Duration::from_secs(1)), [3]);
        assert_eq!(s.next_due(), None);
    }

    #[test]
    fn jitter_is_uniform_within_plus_minus_and_never_negative() {
        let mut s = Schedule::new(Duration::from_millis(50), Duration::from_millis(10), 42);
        let draws: Vec<f64> = (0..10_000)
            .map(|_| s.draw().as_secs_f64() * 1000.0)
            .collect();
        let min = draws.iter().cloned().fold(f64::MAX, f64::min);
        let max = draws.iter().cloned().fold(f64::MIN, f64::max);
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((40.0..40.5).contains(&min), "{min}");
        assert!(max < 60.0 && max > 59.5, "{max}"); // 59.5..60.0
        assert!((mean - 50.0).abs() < 0.5, "{mean}");
        let mut small = Schedule::new(Duration::from_millis(1), Duration::from_millis(10), 7);
        assert!((0..1000).all(|_| small.draw() <= Duration::from_millis(11)));
    }

    #[test]
    fn jitter_reorders_by_due_time_as_netem() {
        let t0 = Instant::now();
        let mut s = Schedule::new(Duration::from_millis(50), Duration::from_millis(40), 3);
        for id in 0..100 {
            s.admit(id, t0);
        }
        let out = s.due(t0 + Duration::from_secs(1));
        assert_eq!(out.len(), 100);
        assert_ne!(out, (0..100).collect::<Vec<_>>());
    }
}
