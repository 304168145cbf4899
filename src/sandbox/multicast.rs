//! The multicast routes a host has: a fresh network namespace has none, so
//! joining a group (`IP_ADD_MEMBERSHIP` with no interface) fails with
//! `ENODEV` where a host succeeds through its default route. The sandbox's
//! `lo` gets `224.0.0.0/4` (main table) and `multicast ff00::/8` (local
//! table, as the kernel adds for every multicast-capable interface).

use super::netlink::{Message, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, Socket};
use nix::sys::socket::SockProtocol;
use std::io;

const RTM_NEWROUTE: u16 = 24;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RT_TABLE_MAIN: u8 = 254;
const RT_TABLE_LOCAL: u8 = 255;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RTN_UNICAST: u8 = 1;
const RTN_MULTICAST: u8 = 5;

struct Route {
    family: u8,
    dst: &'static [u8],
    dst_len: u8,
    table: u8,
    scope: u8,
    kind: u8,
}

const V4: Route = Route {
    family: libc::AF_INET as u8,
    dst: &[224, 0, 0, 0],
    dst_len: 4,
    table: RT_TABLE_MAIN,
    scope: RT_SCOPE_LINK,
    kind: RTN_UNICAST,
};

const V6: Route = Route {
    family: libc::AF_INET6 as u8,
    dst: &[0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    dst_len: 8,
    table: RT_TABLE_LOCAL,
    scope: RT_SCOPE_UNIVERSE,
    kind: RTN_MULTICAST,
};

fn request(r: &Route, ifindex: u32, seq: u32) -> io::Result<Vec<u8>> {
    let mut m = Message::new(
        RTM_NEWROUTE,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        seq,
    );
    // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope,
    // type, flags.
    let mut rtmsg = [0u8; 12];
    rtmsg[0] = r.family;
    rtmsg[1] = r.dst_len;
    rtmsg[4] = r.table;
    rtmsg[5] = RTPROT_BOOT;
    rtmsg[6] = r.scope;
    rtmsg[7] = r.kind;
    m.raw(&rtmsg)
        .attr(RTA_DST, r.dst)
        .attr_u32(RTA_OIF, ifindex);
    Ok(m.finish()?)
}

/// Adds both routes on `lo`, which must be up. A namespace without IPv6
/// (disabled at boot) keeps the IPv4 route only.
pub fn add_loopback_routes() -> io::Result<()> {
    let lo = nix::net::if_::if_nametoindex("lo")?;
    let socket = Socket::open(SockProtocol::NetlinkRoute)?;
    socket
        .request(&request(&V4, lo, 1)?, &[1])
        .map_err(|e| io::Error::other(format!("add the route 224.0.0.0/4 on lo: {e:?}")))?;
    let _ = socket.request(&request(&V6, lo, 2)?, &[2]);
    Ok(())
}
