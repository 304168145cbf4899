//! Network faults in the current network namespace: [`NetFaults`] says
//! which (it travels in the sandbox's JSON spec) and [`apply`] makes them,
//! as one nftables batch (an `inet` table whose input chain rejects or
//! drops ports and drops packets at random) and one qdisc on `lo` (netem
//! for delay and jitter, tbf for a rate alone). Where netem is missing, or
//! the delay applies to some ports only, an output chain hands packets to
//! the kernel's NFQUEUE instead and the init's delayer (`nfqueue.rs`)
//! gives them back late.
//!
//! `--net-ports` selects TCP and UDP packets by port: `out` those whose
//! destination is one of them (what a test sends to a server there), `in`
//! those whose source is (the server's replies), `both` either. On `lo`
//! every packet leaves and enters the namespace, so the test's own
//! sockets are what tells the directions apart.
//!
//! Both go straight over netlink, encoded by hand in `netlink.rs` (see
//! there why no crate): the rules are first built as data ([`NftRule`],
//! [`Qdisc`]) that prints as nft and tc would show it, then encoded.
//!
//! The chain hooks input, not output. On `lo` every packet passes each of
//! them once, but a drop at output reaches a local sender: its `send()`
//! fails with EPERM at once, where a lossy network says nothing. At input
//! the send succeeds and the packet is gone (TCP sees a loss and
//! retransmits, UDP a timeout), and a reject answers the sender with a RST
//! or an ICMP port unreachable as the far host would.

use super::netlink::{
    Message, NLA_F_NESTED, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST,
    RequestError, Socket, TooLong,
};
use nix::errno::Errno;
use nix::sys::socket::SockProtocol;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::io;

/// Faults a test's network gets. The default is none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetFaults {
    /// Packets dropped at random, in parts per million (5% = 50_000).
    pub loss_ppm: u32,
    /// TCP connections to these ports get a RST, UDP datagrams an ICMP port
    /// unreachable. A port also in `drop_ports` is rejected.
    pub reject_ports: Vec<u16>,
    /// Packets to these ports (TCP and UDP) are silently dropped: the test
    /// sees timeouts.
    pub drop_ports: Vec<u16>,
    /// Token-bucket rate limit on lo, bits per second.
    pub rate_bps: Option<u64>,
    /// netem delay and jitter, microseconds.
    pub delay_us: Option<u32>,
    pub jitter_us: Option<u32>,
    /// The ports (inclusive ranges) loss and delay apply to; empty: all
    /// packets.
    pub port_ranges: Vec<(u16, u16)>,
    /// Which packets of `port_ranges`.
    pub direction: Direction,
    /// What makes the delay.
    pub delay_mechanism: DelayMechanism,
}

/// `--net-direction`, relative to `--net-ports`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Packets from the ports (replies).
    In,
    /// Packets to the ports (requests).
    Out,
    #[default]
    Both,
}

/// What delays packets: netem on lo, or NFQUEUE and the init's delayer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DelayMechanism {
    /// netem when the kernel has it and every packet is delayed, else
    /// NFQUEUE.
    #[default]
    Auto,
    Netem,
    Nfqueue,
}

impl DelayMechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            DelayMechanism::Auto => "auto",
            DelayMechanism::Netem => "netem",
            DelayMechanism::Nfqueue => "nfqueue",
        }
    }
}

impl NetFaults {
    pub fn is_empty(&self) -> bool {
        nft_rules(self, false).is_empty() && self.qdisc(true).is_none()
    }

    /// A delay or jitter is set.
    pub fn needs_delay(&self) -> bool {
        self.delay_us.is_some_and(|d| d > 0) || self.jitter_us.is_some_and(|j| j > 0)
    }

    /// The delay must go through NFQUEUE whatever the kernel has: netem on
    /// lo delays every packet, and cannot select ports.
    pub fn delay_needs_nfqueue(&self) -> bool {
        self.needs_delay() && !self.port_ranges.is_empty()
    }

    /// A direction says which packets of `--net-ports`: on lo, without
    /// ports, every packet is both.
    pub fn check(&self) -> Result<(), String> {
        match (self.direction, self.port_ranges.is_empty()) {
            (Direction::In | Direction::Out, true) => Err(
                "--net-direction selects packets to or from --net-ports: on lo every packet is both; give --net-ports too".into(),
            ),
            _ => Ok(()),
        }
    }

    /// What makes the delay, as far as known before the sandbox tries
    /// (`None`: there is none).
    pub fn delay_by(&self) -> Option<DelayMechanism> {
        match self.needs_delay() {
            false => None,
            true if self.delay_needs_nfqueue() => Some(DelayMechanism::Nfqueue),
            true => Some(self.delay_mechanism),
        }
    }

    /// The same faults, the delay made by `m`.
    pub fn with_mechanism(&self, m: DelayMechanism) -> NetFaults {
        NetFaults {
            delay_mechanism: m,
            ..self.clone()
        }
    }

    /// The kernel's rates are in bytes per second: a rate under 8 bit/s
    /// still lets one byte a second through rather than none.
    fn rate_bytes_per_second(&self) -> Option<u64> {
        self.rate_bps.filter(|&r| r > 0).map(|r| (r / 8).max(1))
    }

    /// The qdisc on lo: netem when it makes the delay, else tbf for a rate.
    fn qdisc(&self, netem: bool) -> Option<Qdisc> {
        let rate = self.rate_bytes_per_second();
        if netem && self.needs_delay() {
            Some(Qdisc::Netem {
                latency_ns: u64::from(self.delay_us.unwrap_or(0)) * 1000,
                jitter_ns: u64::from(self.jitter_us.unwrap_or(0)) * 1000,
                rate_bytes_per_second: rate,
            })
        } else {
            rate.map(Qdisc::tbf)
        }
    }
}

/// Failures to make the faults, each naming the step and the kernel's
/// errno.
#[derive(Debug, thiserror::Error)]
pub enum NetFaultError {
    #[error(
        "--net-delay/--net-jitter need the kernel's netem qdisc (module sch_netem), which this kernel does not have: load it with `modprobe sch_netem` as root, or run without --net-delay/--net-jitter"
    )]
    NoNetem,
    #[error("{0}")]
    Invalid(String),
    #[error(
        "--net-loss/--net-reject/--net-drop need the kernel's nftables with its inet family (nf_tables), which this kernel does not have ({errno}): load it with `modprobe nf_tables` as root, or run without --net-loss/--net-reject/--net-drop"
    )]
    NoNftables { errno: Errno },
    #[error("failed to {step}: {source}{}", hint(.source))]
    Netlink { step: String, source: io::Error },
}

fn hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EPERM) => " (this process lacks CAP_NET_ADMIN over its network namespace)",
        _ => "",
    }
}

fn netlink_error(step: impl Into<String>) -> impl FnOnce(io::Error) -> NetFaultError {
    move |source| NetFaultError::Netlink {
        step: step.into(),
        source,
    }
}

/// Makes `f` in the current network namespace, whose `lo` is up. Needs
/// CAP_NET_ADMIN over that namespace (its own user namespace will do).
/// Returns what delays packets (`None`: nothing does): with
/// [`DelayMechanism::Nfqueue`] they wait in queue [`super::nfqueue::QUEUE_NUM`]
/// until a delayer serves it, and pass undelayed while none does.
pub fn apply(f: &NetFaults) -> Result<Option<DelayMechanism>, NetFaultError> {
    f.check().map_err(NetFaultError::Invalid)?;
    let mut mechanism = f.delay_by();
    // The qdisc first: a kernel without netem is the likeliest failure,
    // and its message stands alone.
    let netem = matches!(
        mechanism,
        Some(DelayMechanism::Netem | DelayMechanism::Auto)
    );
    if let Some(q) = f.qdisc(netem) {
        match add_qdisc(&q) {
            Err(NetFaultError::NoNetem) if mechanism == Some(DelayMechanism::Auto) => {
                mechanism = Some(DelayMechanism::Nfqueue);
                if let Some(tbf) = f.qdisc(false) {
                    add_qdisc(&tbf)?;
                }
            }
            Err(e) => return Err(e),
            Ok(()) if netem => mechanism = Some(DelayMechanism::Netem),
            Ok(()) => {}
        }
    }
    let queue = mechanism == Some(DelayMechanism::Nfqueue);
    let rules = nft_rules(f, queue);
    if !rules.is_empty() {
        add_nft_rules(f, &rules)?;
    }
    Ok(mechanism)
}

// ---- nftables -----------------------------------------------------------

// From linux/netfilter/nfnetlink.h and nf_tables.h.
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFNETLINK_V0: u8 = 0;
const NFPROTO_UNSPEC: u8 = 0;
const NFPROTO_INET: u8 = 1;

const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_NEWSET: u16 = 9;
const NFT_MSG_NEWSETELEM: u16 = 12;

const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_FLAGS: u16 = 2;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_FLAGS: u16 = 3;
const NFTA_SET_KEY_TYPE: u16 = 4;
const NFTA_SET_KEY_LEN: u16 = 5;
const NFTA_SET_ID: u16 = 10;
/// The set may be updated from the packet path ("flags dynamic").
const NFT_SET_EVAL: u32 = 0x20;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_SET_ELEM_LIST_SET_ID: u16 = 4;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_META_DREG: u16 = 1;
const NFTA_META_KEY: u16 = 2;
const NFTA_CMP_SREG: u16 = 1;
const NFTA_CMP_OP: u16 = 2;
const NFTA_CMP_DATA: u16 = 3;
const NFTA_PAYLOAD_DREG: u16 = 1;
const NFTA_PAYLOAD_BASE: u16 = 2;
const NFTA_PAYLOAD_OFFSET: u16 = 3;
const NFTA_PAYLOAD_LEN: u16 = 4;
const NFTA_LOOKUP_SET: u16 = 1;
const NFTA_LOOKUP_SREG: u16 = 2;
const NFTA_LOOKUP_SET_ID: u16 = 4;
const NFTA_IMMEDIATE_DREG: u16 = 1;
const NFTA_IMMEDIATE_DATA: u16 = 2;
const NFTA_REJECT_TYPE: u16 = 1;
const NFTA_REJECT_ICMP_CODE: u16 = 2;
const NFTA_NG_DREG: u16 = 1;
const NFTA_NG_MODULUS: u16 = 2;
const NFTA_NG_TYPE: u16 = 3;
const NFTA_BYTEORDER_SREG: u16 = 1;
const NFTA_BYTEORDER_DREG: u16 = 2;
const NFTA_BYTEORDER_OP: u16 = 3;
const NFTA_BYTEORDER_LEN: u16 = 4;
const NFTA_BYTEORDER_SIZE: u16 = 5;

const NF_INET_LOCAL_IN: u32 = 1;
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;
const NFT_REG_VERDICT: u32 = 0;
const NFT_REG_1: u32 = 1;
const NFT_META_L4PROTO: u32 = 16;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
const NFT_CMP_EQ: u32 = 0;
const NFT_CMP_LT: u32 = 2;
const NFT_REJECT_TCP_RST: u32 = 1;
const NFT_REJECT_ICMPX_UNREACH: u32 = 2;
const NFT_REJECT_ICMPX_PORT_UNREACH: u8 = 1;
const NFT_NG_RANDOM: u32 = 1;
const NFT_BYTEORDER_HTON: u32 = 1;
/// nft's own id for the inet_service type: `nft list` prints the set's
/// type and elements with it.
const NFT_TYPE_INET_SERVICE: u32 = 13;

const TABLE: &str = "cargo_isolate";
const CHAIN: &str = "input";
const OUTPUT_CHAIN: &str = "output";
const NF_INET_LOCAL_OUT: u32 = 3;
/// Inverts a lookup: `!= @set`.
const NFT_LOOKUP_F_INV: u32 = 1;
const NFTA_LOOKUP_FLAGS: u16 = 5;
const NFTA_TARGET_NAME: u16 = 1;
const NFTA_TARGET_REV: u16 = 2;
const NFTA_TARGET_INFO: u16 = 3;
/// What numgen draws from: one draw per packet, in parts per million.
const LOSS_MODULUS: u32 = 1_000_000;
/// Ports per NEWSETELEM message: 16 bytes each keeps a message at 16 KiB,
/// well inside a netlink attribute's 64 KiB.
const SET_CHUNK: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum L4 {
    Tcp,
    Udp,
}

impl L4 {
    fn name(self) -> &'static str {
        match self {
            L4::Tcp => "tcp",
            L4::Udp => "udp",
        }
    }

    fn ipproto(self) -> u8 {
        match self {
            L4::Tcp => libc::IPPROTO_TCP as u8,
            L4::Udp => libc::IPPROTO_UDP as u8,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortSet {
    Reject,
    Drop,
    /// `--net-ports`: what loss and delay apply to.
    Fault,
}

impl PortSet {
    fn name(self) -> &'static str {
        match self {
            PortSet::Reject => "reject_ports",
            PortSet::Drop => "drop_ports",
            PortSet::Fault => "fault_ports",
        }
    }

    /// NFTA_SET_ID: names the set to rules in the same batch.
    fn id(self) -> u32 {
        match self {
            PortSet::Reject => 1,
            PortSet::Drop => 2,
            PortSet::Fault => 3,
        }
    }
}

/// Which header field a selection reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortField {
    Sport,
    Dport,
}

/// Which packets a loss or queue rule takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Select {
    All,
    /// `meta l4proto P th FIELD @fault_ports`, and with `not_dport` also
    /// `th dport != @fault_ports`: a packet both from and to the ports
    /// (`both`) is taken once, by the rule on its destination.
    Ports {
        l4: L4,
        field: PortField,
        not_dport: bool,
    },
}

impl fmt::Display for Select {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Select::All => Ok(()),
            Select::Ports {
                l4,
                field,
                not_dport,
            } => {
                let proto = l4.name();
                let field = match field {
                    PortField::Sport => "sport",
                    PortField::Dport => "dport",
                };
                write!(f, "{proto} {field} @fault_ports ")?;
                if not_dport {
                    write!(f, "{proto} dport != @fault_ports ")?;
                }
                Ok(())
            }
        }
    }
}

/// The selections `f` makes: every packet, or per protocol and direction.
fn selections(f: &NetFaults) -> Vec<Select> {
    if f.port_ranges.is_empty() {
        return vec![Select::All];
    }
    let mut out = Vec::new();
    for l4 in [L4::Tcp, L4::Udp] {
        let port = |field, not_dport| Select::Ports {
            l4,
            field,
            not_dport,
        };
        match f.direction {
            Direction::Out => out.push(port(PortField::Dport, false)),
            Direction::In => out.push(port(PortField::Sport, false)),
            Direction::Both => {
                out.push(port(PortField::Dport, false));
                out.push(port(PortField::Sport, true));
            }
        }
    }
    out
}

/// One rule, in order: the input chain's, then the output chain's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NftRule {
    /// `meta l4proto P th dport @set` then the verdict: a TCP reset or an
    /// ICMP port unreachable (icmpx: v4 or v6 as the packet is) for
    /// rejected ports, drop for dropped ones.
    Port { l4: L4, set: PortSet },
    /// `numgen random mod 1000000 < ppm drop`.
    Loss { ppm: u32, select: Select },
    /// The output chain's: the packet goes to NFQUEUE queue 0, or on at
    /// once while no delayer serves it (bypass).
    Queue { select: Select },
}

impl fmt::Display for NftRule {
    /// As `nft list ruleset` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            NftRule::Port { l4, set } => {
                let proto = match l4 {
                    L4::Tcp => "tcp",
                    L4::Udp => "udp",
                };
                let verdict = match (set, l4) {
                    (PortSet::Reject, L4::Tcp) => "reject with tcp reset",
                    (PortSet::Reject, L4::Udp) => "reject",
                    (PortSet::Drop | PortSet::Fault, _) => "drop",
                };
                write!(f, "{proto} dport @{} {verdict}", set.name())
            }
            NftRule::Loss { ppm, select } => {
                write!(f, "{select}numgen random mod {LOSS_MODULUS} < {ppm} drop")
            }
            NftRule::Queue { select } => write!(
                f,
                "{select}xt target NFQUEUE num {} bypass",
                super::nfqueue::QUEUE_NUM
            ),
        }
    }
}

impl NftRule {
    /// The kernel part the rule needs beyond nf_tables' core (meta,
    /// payload, cmp, lookup, immediate, byteorder), named when the kernel
    /// refuses the rule.
    fn needs(&self) -> Option<&'static str> {
        match self {
            NftRule::Port {
                set: PortSet::Reject,
                ..
            } => Some("nft_reject_inet"),
            NftRule::Port { .. } => None,
            NftRule::Loss { .. } => Some("nft_numgen"),
            NftRule::Queue { .. } => Some("nft_compat, xt_NFQUEUE and nfnetlink_queue"),
        }
    }

    fn chain(&self) -> &'static str {
        match self {
            NftRule::Queue { .. } => OUTPUT_CHAIN,
            _ => CHAIN,
        }
    }

    fn uses_fault_ports(&self) -> bool {
        match self {
            NftRule::Loss { select, .. } | NftRule::Queue { select } => {
                matches!(select, Select::Ports { .. })
            }
            NftRule::Port { .. } => false,
        }
    }
}

/// The rules `f` needs: rejects first, so a port in both lists is rejected,
/// then drops, then the random loss for everything else (or the selected
/// ports); with `queue`, the output chain's NFQUEUE rules.
fn nft_rules(f: &NetFaults, queue: bool) -> Vec<NftRule> {
    let mut rules = Vec::new();
    for (ports, set) in [
        (&f.reject_ports, PortSet::Reject),
        (&f.drop_ports, PortSet::Drop),
    ] {
        if !ports.is_empty() {
            rules.push(NftRule::Port { l4: L4::Tcp, set });
            rules.push(NftRule::Port { l4: L4::Udp, set });
        }
    }
    if f.loss_ppm > 0 {
        for select in selections(f) {
            rules.push(NftRule::Loss {
                ppm: f.loss_ppm.min(LOSS_MODULUS),
                select,
            });
        }
    }
    if queue {
        for select in selections(f) {
            rules.push(NftRule::Queue { select });
        }
    }
    rules
}

/// Every port of `ranges`, in order.
fn expand(ranges: &[(u16, u16)]) -> Vec<u16> {
    ranges.iter().flat_map(|&(a, b)| a..=b).collect()
}

/// An encoded request, and what each of its messages does, to name the one
/// the kernel refuses.
#[derive(Debug, Default)]
struct Request {
    bytes: Vec<u8>,
    /// Every message's sequence number and step, in order.
    steps: Vec<(u32, String)>,
    /// The sequence numbers that carry NLM_F_ACK.
    acked: Vec<u32>,
}

impl Request {
    fn step(&self, seq: u32) -> String {
        self.steps
            .iter()
            .find(|(s, _)| *s == seq)
            .map(|(_, step)| step.clone())
            .unwrap_or_else(|| format!("apply netlink message {seq}"))
    }

    fn next_seq(&self) -> u32 {
        self.steps.len() as u32 + 1
    }

    fn push(&mut self, msg: Message, step: String, acked: bool) -> Result<(), TooLong> {
        let seq = self.next_seq();
        if acked {
            self.acked.push(seq);
        }
        self.bytes.extend(msg.finish()?);
        self.steps.push((seq, step));
        Ok(())
    }

    /// An nf_tables message of `ty`, with its `struct nfgenmsg`, acked.
    fn nft(
        &mut self,
        ty: u16,
        flags: u16,
        step: String,
        body: impl FnOnce(&mut Message),
    ) -> Result<(), TooLong> {
        let mut m = Message::new(
            (NFNL_SUBSYS_NFTABLES << 8) | ty,
            NLM_F_REQUEST | NLM_F_ACK | flags,
            self.next_seq(),
        );
        m.raw(&[NFPROTO_INET, NFNETLINK_V0, 0, 0]);
        body(&mut m);
        self.push(m, step, true)
    }

    /// NFNL_MSG_BATCH_BEGIN or _END: its res_id names the subsystem the
    /// batch is for, big-endian.
    fn batch_mark(&mut self, ty: u16, step: &str) -> Result<(), TooLong> {
        let mut m = Message::new(ty, NLM_F_REQUEST, self.next_seq());
        let res_id = NFNL_SUBSYS_NFTABLES.to_be_bytes();
        m.raw(&[NFPROTO_UNSPEC, NFNETLINK_V0, res_id[0], res_id[1]]);
        self.push(m, step.into(), false)
    }
}

/// Sequence numbers in the batch, which `nft_batch` always starts the same
/// way. The kernel answers a failure of the whole batch (a permission, a
/// failed commit) with the BEGIN's.
const BATCH_SEQ: u32 = 1;
const TABLE_SEQ: u32 = 2;
const CHAIN_SEQ: u32 = 3;

/// One transaction: the table, its input chain, the port sets and their
/// ports, the rules.
fn nft_batch(f: &NetFaults, rules: &[NftRule]) -> Result<Request, TooLong> {
    let mut b = Request::default();
    b.batch_mark(NFNL_MSG_BATCH_BEGIN, "apply the nftables batch")?;
    b.nft(
        NFT_MSG_NEWTABLE,
        NLM_F_CREATE,
        format!("create the nftables table inet {TABLE}"),
        |m| {
            m.attr_str(NFTA_TABLE_NAME, TABLE)
                .attr_be32(NFTA_TABLE_FLAGS, 0);
        },
    )?;
    b.nft(
        NFT_MSG_NEWCHAIN,
        NLM_F_CREATE,
        format!("add the chain {CHAIN} (type filter hook input priority 0) to table inet {TABLE}"),
        |m| {
            m.attr_str(NFTA_CHAIN_TABLE, TABLE)
                .attr_str(NFTA_CHAIN_NAME, CHAIN)
                .nest(NLA_F_NESTED | NFTA_CHAIN_HOOK, |m| {
                    m.attr_be32(NFTA_HOOK_HOOKNUM, NF_INET_LOCAL_IN)
                        .attr_be32(NFTA_HOOK_PRIORITY, 0);
                })
                .attr_be32(NFTA_CHAIN_POLICY, NF_ACCEPT)
                .attr_str(NFTA_CHAIN_TYPE, "filter");
        },
    )?;
    if rules.iter().any(|r| r.chain() == OUTPUT_CHAIN) {
        b.nft(
            NFT_MSG_NEWCHAIN,
            NLM_F_CREATE,
            format!(
                "add the chain {OUTPUT_CHAIN} (type filter hook output priority 0) to table inet {TABLE}"
            ),
            |m| {
                m.attr_str(NFTA_CHAIN_TABLE, TABLE)
                    .attr_str(NFTA_CHAIN_NAME, OUTPUT_CHAIN)
                    .nest(NLA_F_NESTED | NFTA_CHAIN_HOOK, |m| {
                        m.attr_be32(NFTA_HOOK_HOOKNUM, NF_INET_LOCAL_OUT)
                            .attr_be32(NFTA_HOOK_PRIORITY, 0);
                    })
                    .attr_be32(NFTA_CHAIN_POLICY, NF_ACCEPT)
                    .attr_str(NFTA_CHAIN_TYPE, "filter");
            },
        )?;
    }
    let fault_ports = match rules.iter().any(NftRule::uses_fault_ports) {
        true => expand(&f.port_ranges),
        false => Vec::new(),
    };
    for (ports, set) in [
        (&f.reject_ports, PortSet::Reject),
        (&f.drop_ports, PortSet::Drop),
        (&fault_ports, PortSet::Fault),
    ] {
        if ports.is_empty() {
            continue;
        }
        b.nft(
            NFT_MSG_NEWSET,
            NLM_F_CREATE,
            format!("add the set {} to table inet {TABLE}", set.name()),
            |m| {
                m.attr_str(NFTA_SET_TABLE, TABLE)
                    .attr_str(NFTA_SET_NAME, set.name())
                    // For 2-byte keys the kernel picks its bitmap backend,
                    // whose inserts take linear time: 65535 ports took 11.6 s
                    // here, as long as with nft itself. Bitmap sets cannot
                    // be dynamic, so this flag selects the hash backend:
                    // 0.15 s. No rule updates the set.
                    .attr_be32(NFTA_SET_FLAGS, NFT_SET_EVAL)
                    .attr_be32(NFTA_SET_KEY_TYPE, NFT_TYPE_INET_SERVICE)
                    .attr_be32(NFTA_SET_KEY_LEN, 2)
                    .attr_be32(NFTA_SET_ID, set.id());
            },
        )?;
        let unique: Vec<u16> = ports
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for chunk in unique.chunks(SET_CHUNK) {
            b.nft(
                NFT_MSG_NEWSETELEM,
                NLM_F_CREATE,
                format!("add {} port(s) to the set {}", chunk.len(), set.name()),
                |m| {
                    m.attr_str(NFTA_SET_ELEM_LIST_TABLE, TABLE)
                        .attr_str(NFTA_SET_ELEM_LIST_SET, set.name())
                        .attr_be32(NFTA_SET_ELEM_LIST_SET_ID, set.id())
                        .nest(NLA_F_NESTED | NFTA_SET_ELEM_LIST_ELEMENTS, |m| {
                            for port in chunk {
                                m.nest(NLA_F_NESTED | NFTA_LIST_ELEM, |m| {
                                    m.nest(NLA_F_NESTED | NFTA_SET_ELEM_KEY, |m| {
                                        m.attr(NFTA_DATA_VALUE, &port.to_be_bytes());
                                    });
                                });
                            }
                        });
                },
            )?;
        }
    }
    for rule in rules {
        b.nft(
            NFT_MSG_NEWRULE,
            NLM_F_CREATE | NLM_F_APPEND,
            match rule.needs() {
                Some(module) => format!("add the nftables rule `{rule}` (needs {module})"),
                None => format!("add the nftables rule `{rule}`"),
            },
            |m| {
                m.attr_str(NFTA_RULE_TABLE, TABLE)
                    .attr_str(NFTA_RULE_CHAIN, rule.chain())
                    .nest(NLA_F_NESTED | NFTA_RULE_EXPRESSIONS, |m| {
                        encode_rule(m, rule)
                    });
            },
        )?;
    }
    b.batch_mark(NFNL_MSG_BATCH_END, "end the nftables batch")?;
    Ok(b)
}

/// The expressions `nft --debug=netlink` shows for the same rule.
fn encode_rule(m: &mut Message, rule: &NftRule) {
    match *rule {
        NftRule::Port { l4, set } => {
            expr(m, "meta", |m| {
                m.attr_be32(NFTA_META_KEY, NFT_META_L4PROTO)
                    .attr_be32(NFTA_META_DREG, NFT_REG_1);
            });
            cmp(m, NFT_CMP_EQ, &[l4.ipproto()]);
            // Destination port: bytes 2-3 of the TCP or UDP header.
            expr(m, "payload", |m| {
                m.attr_be32(NFTA_PAYLOAD_DREG, NFT_REG_1)
                    .attr_be32(NFTA_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER)
                    .attr_be32(NFTA_PAYLOAD_OFFSET, 2)
                    .attr_be32(NFTA_PAYLOAD_LEN, 2);
            });
            expr(m, "lookup", |m| {
                m.attr_str(NFTA_LOOKUP_SET, set.name())
                    .attr_be32(NFTA_LOOKUP_SREG, NFT_REG_1)
                    .attr_be32(NFTA_LOOKUP_SET_ID, set.id());
            });
            match (set, l4) {
                (PortSet::Reject, L4::Tcp) => expr(m, "reject", |m| {
                    m.attr_be32(NFTA_REJECT_TYPE, NFT_REJECT_TCP_RST);
                }),
                (PortSet::Reject, L4::Udp) => expr(m, "reject", |m| {
                    m.attr_be32(NFTA_REJECT_TYPE, NFT_REJECT_ICMPX_UNREACH)
                        .attr(NFTA_REJECT_ICMP_CODE, &[NFT_REJECT_ICMPX_PORT_UNREACH]);
                }),
                (PortSet::Drop | PortSet::Fault, _) => drop_verdict(m),
            }
        }
        NftRule::Loss { ppm, select } => {
            encode_select(m, select);
            expr(m, "numgen", |m| {
                m.attr_be32(NFTA_NG_DREG, NFT_REG_1)
                    .attr_be32(NFTA_NG_MODULUS, LOSS_MODULUS)
                    .attr_be32(NFTA_NG_TYPE, NFT_NG_RANDOM);
            });
            // numgen writes a host-order number and cmp compares bytes
            // (memcmp): big-endian first, or `<` is wrong on x86.
            expr(m, "byteorder", |m| {
                m.attr_be32(NFTA_BYTEORDER_SREG, NFT_REG_1)
                    .attr_be32(NFTA_BYTEORDER_DREG, NFT_REG_1)
                    .attr_be32(NFTA_BYTEORDER_OP, NFT_BYTEORDER_HTON)
                    .attr_be32(NFTA_BYTEORDER_LEN, 4)
                    .attr_be32(NFTA_BYTEORDER_SIZE, 4);
            });
            cmp(m, NFT_CMP_LT, &ppm.to_be_bytes());
            drop_verdict(m);
        }
        NftRule::Queue { select } => {
            encode_select(m, select);
            // nftables' own `queue` expression (nft_queue) is often not
            // built where the xtables target is: see nfqueue.rs.
            expr(m, "target", |m| {
                m.attr_str(NFTA_TARGET_NAME, "NFQUEUE")
                    .attr_be32(NFTA_TARGET_REV, super::nfqueue::TARGET_REVISION)
                    .attr(NFTA_TARGET_INFO, &super::nfqueue::target_info());
            });
        }
    }
}

/// `meta l4proto P th FIELD @fault_ports [th dport != @fault_ports]`.
fn encode_select(m: &mut Message, select: Select) {
    let Select::Ports {
        l4,
        field,
        not_dport,
    } = select
    else {
        return;
    };
    expr(m, "meta", |m| {
        m.attr_be32(NFTA_META_KEY, NFT_META_L4PROTO)
            .attr_be32(NFTA_META_DREG, NFT_REG_1);
    });
    cmp(m, NFT_CMP_EQ, &[l4.ipproto()]);
    let offset = match field {
        PortField::Sport => 0,
        PortField::Dport => 2,
    };
    port_lookup(m, offset, false);
    if not_dport {
        port_lookup(m, 2, true);
    }
}

/// Bytes `offset`..+2 of the TCP or UDP header looked up in fault_ports.
fn port_lookup(m: &mut Message, offset: u32, inverted: bool) {
    expr(m, "payload", |m| {
        m.attr_be32(NFTA_PAYLOAD_DREG, NFT_REG_1)
            .attr_be32(NFTA_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER)
            .attr_be32(NFTA_PAYLOAD_OFFSET, offset)
            .attr_be32(NFTA_PAYLOAD_LEN, 2);
    });
    let set = PortSet::Fault;
    expr(m, "lookup", |m| {
        m.attr_str(NFTA_LOOKUP_SET, set.name())
            .attr_be32(NFTA_LOOKUP_SREG, NFT_REG_1)
            .attr_be32(NFTA_LOOKUP_SET_ID, set.id());
        if inverted {
            m.attr_be32(NFTA_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
        }
    });
}

fn expr(m: &mut Message, name: &str, data: impl FnOnce(&mut Message)) {
    m.nest(NLA_F_NESTED | NFTA_LIST_ELEM, |m| {
        m.attr_str(NFTA_EXPR_NAME, name)
            .nest(NLA_F_NESTED | NFTA_EXPR_DATA, data);
    });
}

fn cmp(m: &mut Message, op: u32, data: &[u8]) {
    expr(m, "cmp", |m| {
        m.attr_be32(NFTA_CMP_SREG, NFT_REG_1)
            .attr_be32(NFTA_CMP_OP, op)
            .nest(NLA_F_NESTED | NFTA_CMP_DATA, |m| {
                m.attr(NFTA_DATA_VALUE, data);
            });
    });
}

fn drop_verdict(m: &mut Message) {
    expr(m, "immediate", |m| {
        m.attr_be32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT).nest(
            NLA_F_NESTED | NFTA_IMMEDIATE_DATA,
            |m| {
                m.nest(NLA_F_NESTED | NFTA_DATA_VERDICT, |m| {
                    m.attr_be32(NFTA_VERDICT_CODE, NF_DROP);
                });
            },
        );
    });
}

fn add_nft_rules(f: &NetFaults, rules: &[NftRule]) -> Result<(), NetFaultError> {
    let batch = nft_batch(f, rules).map_err(|e| NetFaultError::Netlink {
        step: "encode the nftables batch".into(),
        source: e.into(),
    })?;
    let socket = match Socket::open(SockProtocol::NetlinkNetFilter) {
        Err(e) if e.raw_os_error() == Some(libc::EPROTONOSUPPORT) => {
            return Err(NetFaultError::NoNftables {
                errno: Errno::EPROTONOSUPPORT,
            });
        }
        r => r.map_err(netlink_error("open a netfilter netlink socket"))?,
    };
    // Many ports make a batch larger than the default socket buffers.
    socket.reserve(batch.bytes.len(), batch.acked.len());
    match socket.request(&batch.bytes, &batch.acked) {
        Ok(()) => Ok(()),
        Err(RequestError::Refused { seq, errno }) => {
            // nf_tables itself, or its inet filter chains, are missing: the
            // subsystem is refused at the batch, the chain type at the chain.
            let unsupported = matches!(
                errno,
                Errno::EOPNOTSUPP | Errno::EAFNOSUPPORT | Errno::EPROTONOSUPPORT
            );
            let missing = match seq {
                BATCH_SEQ | TABLE_SEQ => unsupported,
                CHAIN_SEQ => unsupported || errno == Errno::ENOENT,
                _ => false,
            };
            if missing {
                return Err(NetFaultError::NoNftables { errno });
            }
            Err(NetFaultError::Netlink {
                step: batch.step(seq),
                source: errno.into(),
            })
        }
        Err(e) => Err(request_error(e, "send the nftables batch", &batch)),
    }
}

fn request_error(e: RequestError, what: &str, req: &Request) -> NetFaultError {
    match e {
        RequestError::Send(source) => NetFaultError::Netlink {
            step: format!("{what} ({} bytes)", req.bytes.len()),
            source,
        },
        RequestError::Receive(source) => NetFaultError::Netlink {
            step: format!("read the kernel's answer to: {what}"),
            source,
        },
        RequestError::Refused { seq, errno } => NetFaultError::Netlink {
            step: req.step(seq),
            source: errno.into(),
        },
        RequestError::NoAnswer { seq } => NetFaultError::Netlink {
            step: req.step(seq),
            source: io::Error::new(io::ErrorKind::TimedOut, "the kernel did not answer"),
        },
    }
}

// ---- tc -----------------------------------------------------------------

// From linux/rtnetlink.h and pkt_sched.h.
const RTM_NEWQDISC: u16 = 36;
const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;
const TC_H_ROOT: u32 = 0xFFFF_FFFF;
/// Handle 1:0.
const ROOT_HANDLE: u32 = 0x0001_0000;
const TC_LINKLAYER_ETHERNET: u8 = 1;
const TCA_NETEM_RATE: u16 = 6;
const TCA_NETEM_RATE64: u16 = 8;
const TCA_NETEM_LATENCY64: u16 = 10;
const TCA_NETEM_JITTER64: u16 = 11;
const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;
/// The kernel's scheduler ticks (PSCHED_SHIFT): 64 ns.
const PSCHED_SHIFT: u32 = 6;
/// tc's default netem queue, in packets.
const NETEM_LIMIT_PACKETS: u32 = 1000;
/// The largest packet on `lo` as a qdisc counts it: the 65536-byte MTU plus
/// the 14-byte Ethernet header lo carries. tbf drops a packet bigger than
/// its bucket (it segments only GSO packets), so the bucket holds one.
const LO_PACKET_BYTES: u64 = 65_536 + 14;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qdisc {
    /// Delay and jitter, with the rate too when one is set.
    Netem {
        latency_ns: u64,
        jitter_ns: u64,
        rate_bytes_per_second: Option<u64>,
    },
    Tbf {
        rate_bytes_per_second: u64,
        burst_bytes: u32,
        limit_bytes: u32,
    },
}

impl Qdisc {
    /// A bucket of 4 ms at the rate, and never smaller than one of lo's
    /// packets; a queue of 500 ms at the rate behind it, and at least four
    /// packets, so that TCP over lo (64 KiB segments) slows to the rate
    /// rather than losing segments.
    fn tbf(rate_bytes_per_second: u64) -> Qdisc {
        let burst = (rate_bytes_per_second / 250).max(LO_PACKET_BYTES + 4096);
        let queue = (rate_bytes_per_second / 2).max(4 * LO_PACKET_BYTES);
        let saturate = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        Qdisc::Tbf {
            rate_bytes_per_second,
            burst_bytes: saturate(burst),
            limit_bytes: saturate(burst.saturating_add(queue)),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Qdisc::Netem { .. } => "netem",
            Qdisc::Tbf { .. } => "tbf",
        }
    }
}

impl fmt::Display for Qdisc {
    /// Close to `tc qdisc show`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Qdisc::Netem {
                latency_ns,
                jitter_ns,
                rate_bytes_per_second,
            } => {
                write!(
                    f,
                    "netem limit {NETEM_LIMIT_PACKETS} delay {}us {}us",
                    latency_ns / 1000,
                    jitter_ns / 1000
                )?;
                if let Some(r) = rate_bytes_per_second {
                    write!(f, " rate {}bit", u128::from(r) * 8)?;
                }
                Ok(())
            }
            Qdisc::Tbf {
                rate_bytes_per_second,
                burst_bytes,
                limit_bytes,
            } => write!(
                f,
                "tbf rate {}bit burst {burst_bytes}b limit {limit_bytes}b",
                u128::from(rate_bytes_per_second) * 8
            ),
        }
    }
}

fn ticks(ns: u64) -> u32 {
    u32::try_from(ns >> PSCHED_SHIFT).unwrap_or(u32::MAX)
}

/// RTM_NEWQDISC: `q` as the root qdisc 1: of interface `ifindex`.
fn qdisc_request(q: &Qdisc, ifindex: u32) -> Result<Request, TooLong> {
    let mut m = Message::new(
        RTM_NEWQDISC,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        1,
    );
    // struct tcmsg: family, 3 bytes padding, ifindex, handle, parent, info.
    let mut tcmsg = [0u8; 20];
    tcmsg[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    tcmsg[8..12].copy_from_slice(&ROOT_HANDLE.to_ne_bytes());
    tcmsg[12..16].copy_from_slice(&TC_H_ROOT.to_ne_bytes());
    m.raw(&tcmsg).attr_str(TCA_KIND, q.kind());
    match *q {
        Qdisc::Netem {
            latency_ns,
            jitter_ns,
            rate_bytes_per_second,
        } => {
            // netem's options are not a nest: struct tc_netem_qopt, then
            // attributes. The kernel reads the 64-bit ns attributes over
            // the struct's legacy tick fields; both are set, as tc does.
            let qopt = [
                ticks(latency_ns),
                NETEM_LIMIT_PACKETS,
                0, // loss: nftables does it
                0, // gap
                0, // duplicate
                ticks(jitter_ns),
            ];
            m.nest(TCA_OPTIONS, |m| {
                m.raw(&u32s(&qopt))
                    .attr_u64(TCA_NETEM_LATENCY64, latency_ns)
                    .attr_u64(TCA_NETEM_JITTER64, jitter_ns);
                if let Some(rate) = rate_bytes_per_second {
                    // struct tc_netem_rate: rate, packet_overhead,
                    // cell_size, cell_overhead.
                    let rate32 = u32::try_from(rate).unwrap_or(u32::MAX);
                    m.attr(TCA_NETEM_RATE, &u32s(&[rate32, 0, 0, 0]));
                    if rate > u64::from(u32::MAX) {
                        m.attr_u64(TCA_NETEM_RATE64, rate);
                    }
                }
            });
        }
        Qdisc::Tbf {
            rate_bytes_per_second,
            burst_bytes,
            limit_bytes,
        } => {
            let rate32 = u32::try_from(rate_bytes_per_second).unwrap_or(u32::MAX);
            let buffer_ns =
                u128::from(burst_bytes) * 1_000_000_000 / u128::from(rate_bytes_per_second.max(1));
            let buffer_ticks = ticks(u64::try_from(buffer_ns).unwrap_or(u64::MAX));
            m.nest(TCA_OPTIONS, |m| {
                m.attr(TCA_TBF_PARMS, &tbf_qopt(rate32, limit_bytes, buffer_ticks))
                    .attr_u64(TCA_TBF_RATE64, rate_bytes_per_second)
                    .attr_u32(TCA_TBF_BURST, burst_bytes);
            });
        }
    }
    let mut req = Request::default();
    req.push(m, format!("add the {} qdisc on lo ({q})", q.kind()), true)?;
    Ok(req)
}

/// struct tc_tbf_qopt: rate and peakrate (struct tc_ratespec: cell_log,
/// linklayer, overhead, cell_align, mpu, rate), limit, buffer, mtu. An
/// Ethernet link layer, as tc sets, spares the kernel a rate table.
fn tbf_qopt(rate: u32, limit_bytes: u32, buffer_ticks: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(36);
    b.extend_from_slice(&[0, TC_LINKLAYER_ETHERNET, 0, 0, 0, 0, 0, 0]);
    b.extend_from_slice(&rate.to_ne_bytes());
    b.extend_from_slice(&[0; 12]); // no peak rate
    b.extend_from_slice(&u32s(&[limit_bytes, buffer_ticks, 0]));
    b
}

fn u32s(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

fn add_qdisc(q: &Qdisc) -> Result<(), NetFaultError> {
    let ifindex = nix::net::if_::if_nametoindex("lo").map_err(|e| NetFaultError::Netlink {
        step: "find the loopback interface (lo)".into(),
        source: e.into(),
    })?;
    let req = qdisc_request(q, ifindex).map_err(|e| NetFaultError::Netlink {
        step: format!("encode the {} qdisc", q.kind()),
        source: e.into(),
    })?;
    let socket = Socket::open(SockProtocol::NetlinkRoute)
        .map_err(netlink_error("open a route netlink socket"))?;
    match socket.request(&req.bytes, &req.acked) {
        Ok(()) => Ok(()),
        // qdisc_create: "Specified qdisc kind is unknown", after trying to
        // load sch_<kind>.
        Err(RequestError::Refused {
            errno: Errno::ENOENT,
            ..
        }) if matches!(q, Qdisc::Netem { .. }) => Err(NetFaultError::NoNetem),
        Err(e) => {
            let what = format!("add the {} qdisc on lo", q.kind());
            Err(request_error(e, &what, &req))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The attributes in `b`: (type without flags, payload).
    fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
        let mut out = Vec::new();
        while b.len() >= 4 {
            let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
            let ty = u16::from_ne_bytes([b[2], b[3]]) & !NLA_F_NESTED;
            assert!(len >= 4 && len <= b.len(), "attribute length {len}");
            out.push((ty, &b[4..len]));
            b = &b[super::super::netlink::align4(len).min(b.len())..];
        }
        assert!(b.is_empty());
        out
    }

    fn attr<'a>(list: &[(u16, &'a [u8])], ty: u16) -> &'a [u8] {
        list.iter().find(|(t, _)| *t == ty).unwrap().1
    }

    /// The messages in a request: (type, flags, seq, payload).
    fn messages(mut b: &[u8]) -> Vec<(u16, u16, u32, &[u8])> {
        let mut out = Vec::new();
        while !b.is_empty() {
            let len = u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize;
            assert_eq!(len % 4, 0);
            let ty = u16::from_ne_bytes([b[4], b[5]]);
            let flags = u16::from_ne_bytes([b[6], b[7]]);
            let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
            out.push((ty, flags, seq, &b[16..len]));
            b = &b[len..];
        }
        out
    }

    fn faults() -> NetFaults {
        NetFaults {
            loss_ppm: 50_000,
            reject_ports: vec![443, 80, 80],
            drop_ports: vec![5432],
            ..NetFaults::default()
        }
    }

    #[test]
    fn rules_print_as_nft_lists_them_rejects_first() {
        let rules: Vec<String> = nft_rules(&faults(), false)
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(
            rules,
            [
                "tcp dport @reject_ports reject with tcp reset",
                "udp dport @reject_ports reject",
                "tcp dport @drop_ports drop",
                "udp dport @drop_ports drop",
                "numgen random mod 1000000 < 50000 drop",
            ]
        );
    }

    #[test]
    fn no_table_without_a_rule_and_no_qdisc_without_a_shaping_fault() {
        let none = NetFaults::default();
        assert!(none.is_empty());
        assert!(nft_rules(&none, false).is_empty());
        assert_eq!(none.qdisc(true), None);
        let rate_only = NetFaults {
            rate_bps: Some(8_000_000),
            ..NetFaults::default()
        };
        assert!(!rate_only.is_empty());
        assert!(nft_rules(&rate_only, false).is_empty());
        assert!(!rate_only.needs_delay());
        assert!(matches!(rate_only.qdisc(true), Some(Qdisc::Tbf { .. })));
        let zero_jitter = NetFaults {
            jitter_us: Some(0),
            ..NetFaults::default()
        };
        assert!(zero_jitter.is_empty());
        assert!(!zero_jitter.needs_delay());
        assert!(!faults().is_empty());
        assert_eq!(faults().qdisc(true), None);
    }

    #[test]
    fn the_batch_is_begin_table_chain_sets_rules_end_each_acked() {
        let f = faults();
        let b = nft_batch(&f, &nft_rules(&f, false)).unwrap();
        let msgs = messages(&b.bytes);
        let types: Vec<u16> = msgs.iter().map(|m| m.0).collect();
        let nft = |t: u16| (NFNL_SUBSYS_NFTABLES << 8) | t;
        assert_eq!(
            types,
            [
                NFNL_MSG_BATCH_BEGIN,
                nft(NFT_MSG_NEWTABLE),
                nft(NFT_MSG_NEWCHAIN),
                nft(NFT_MSG_NEWSET),
                nft(NFT_MSG_NEWSETELEM),
                nft(NFT_MSG_NEWSET),
                nft(NFT_MSG_NEWSETELEM),
                nft(NFT_MSG_NEWRULE),
                nft(NFT_MSG_NEWRULE),
                nft(NFT_MSG_NEWRULE),
                nft(NFT_MSG_NEWRULE),
                nft(NFT_MSG_NEWRULE),
                NFNL_MSG_BATCH_END,
            ]
        );
        let seqs: Vec<u32> = msgs.iter().map(|m| m.2).collect();
        assert_eq!(seqs, (1..=13).collect::<Vec<_>>());
        assert_eq!(
            (
                types[BATCH_SEQ as usize - 1],
                types[TABLE_SEQ as usize - 1],
                types[CHAIN_SEQ as usize - 1]
            ),
            (
                NFNL_MSG_BATCH_BEGIN,
                nft(NFT_MSG_NEWTABLE),
                nft(NFT_MSG_NEWCHAIN)
            )
        );
        assert_eq!(b.acked, (2..=12).collect::<Vec<_>>());
        for (ty, flags, _, payload) in &msgs {
            let marker = *ty == NFNL_MSG_BATCH_BEGIN || *ty == NFNL_MSG_BATCH_END;
            assert_eq!(flags & NLM_F_ACK != 0, !marker);
            // struct nfgenmsg: the marks name the subsystem (big-endian
            // res_id), the rest the inet family.
            match marker {
                true => assert_eq!(&payload[..4], &[0, 0, 0, 10]),
                false => assert_eq!(&payload[..4], &[NFPROTO_INET, 0, 0, 0]),
            }
            attrs(&payload[4..]);
        }
        let set = attrs(&msgs[3].3[4..]);
        assert_eq!(attr(&set, NFTA_SET_FLAGS), NFT_SET_EVAL.to_be_bytes());
        assert_eq!(attr(&set, NFTA_SET_KEY_LEN), 2u32.to_be_bytes());
        // The reject set holds 80 and 443 once each, big-endian.
        let elems = attrs(&msgs[4].3[4..]);
        assert_eq!(attr(&elems, NFTA_SET_ELEM_LIST_SET), b"reject_ports\0");
        let keys: Vec<&[u8]> = attrs(attr(&elems, NFTA_SET_ELEM_LIST_ELEMENTS))
            .iter()
            .map(|(_, e)| attr(&attrs(attr(&attrs(e), NFTA_SET_ELEM_KEY)), NFTA_DATA_VALUE))
            .collect();
        assert_eq!(keys, [&[0, 80][..], &[1, 187][..]]);
        assert_eq!(
            b.step(9),
            "add the nftables rule `udp dport @reject_ports reject` (needs nft_reject_inet)"
        );
    }

    #[test]
    fn the_chain_hooks_input_at_priority_zero() {
        let f = faults();
        let b = nft_batch(&f, &nft_rules(&f, false)).unwrap();
        let chain = attrs(&messages(&b.bytes)[2].3[4..]);
        assert_eq!(attr(&chain, NFTA_CHAIN_TYPE), b"filter\0");
        let hook = attrs(attr(&chain, NFTA_CHAIN_HOOK));
        assert_eq!(attr(&hook, NFTA_HOOK_HOOKNUM), 1u32.to_be_bytes());
        assert_eq!(attr(&hook, NFTA_HOOK_PRIORITY), 0u32.to_be_bytes());
    }

    #[test]
    fn the_loss_rule_compares_a_big_endian_draw() {
        let f = NetFaults {
            loss_ppm: 300_000,
            ..NetFaults::default()
        };
        let b = nft_batch(&f, &nft_rules(&f, false)).unwrap();
        let msgs = messages(&b.bytes);
        assert_eq!(msgs.len(), 5); // begin, table, chain, rule, end
        let rule = attrs(&msgs[3].3[4..]);
        let exprs = attrs(attr(&rule, NFTA_RULE_EXPRESSIONS));
        let names: Vec<&[u8]> = exprs
            .iter()
            .map(|(_, e)| attr(&attrs(e), NFTA_EXPR_NAME))
            .collect();
        assert_eq!(
            names,
            [&b"numgen\0"[..], b"byteorder\0", b"cmp\0", b"immediate\0"]
        );
        let cmp = attrs(attr(&attrs(exprs[2].1), NFTA_EXPR_DATA));
        assert_eq!(attr(&cmp, NFTA_CMP_OP), NFT_CMP_LT.to_be_bytes());
        let value = attr(&attrs(attr(&cmp, NFTA_CMP_DATA)), NFTA_DATA_VALUE);
        assert_eq!(value, 300_000u32.to_be_bytes());
    }

    #[test]
    fn loss_over_a_million_ppm_drops_everything_rather_than_overflowing() {
        let f = NetFaults {
            loss_ppm: u32::MAX,
            ..NetFaults::default()
        };
        assert_eq!(
            nft_rules(&f, false),
            [NftRule::Loss {
                ppm: LOSS_MODULUS,
                select: Select::All
            }]
        );
    }

    fn selected() -> NetFaults {
        NetFaults {
            loss_ppm: 50_000,
            delay_us: Some(50_000),
            port_ranges: vec![(9000, 9010), (443, 443)],
            ..NetFaults::default()
        }
    }

    #[test]
    fn selected_faults_take_each_packet_once_per_protocol_and_direction() {
        let both: Vec<String> = nft_rules(&selected(), true)
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(
            both,
            [
                "tcp dport @fault_ports numgen random mod 1000000 < 50000 drop",
                "tcp sport @fault_ports tcp dport != @fault_ports numgen random mod 1000000 < 50000 drop",
                "udp dport @fault_ports numgen random mod 1000000 < 50000 drop",
                "udp sport @fault_ports udp dport != @fault_ports numgen random mod 1000000 < 50000 drop",
                "tcp dport @fault_ports xt target NFQUEUE num 0 bypass",
                "tcp sport @fault_ports tcp dport != @fault_ports xt target NFQUEUE num 0 bypass",
                "udp dport @fault_ports xt target NFQUEUE num 0 bypass",
                "udp sport @fault_ports udp dport != @fault_ports xt target NFQUEUE num 0 bypass",
            ]
        );
        let out = NetFaults {
            direction: Direction::Out,
            ..selected()
        };
        let rules: Vec<String> = nft_rules(&out, true)
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert!(
            rules.iter().all(|r| r.contains("dport @fault_ports ")),
            "{rules:?}"
        );
        let inn = NetFaults {
            direction: Direction::In,
            ..selected()
        };
        let rules: Vec<String> = nft_rules(&inn, true)
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert!(
            rules.iter().all(|r| r.contains("sport @fault_ports ")),
            "{rules:?}"
        );
        assert!(rules.iter().all(|r| !r.contains("!=")), "{rules:?}");
        // Without ports, every packet, once.
        let all = NetFaults {
            port_ranges: vec![],
            ..selected()
        };
        assert_eq!(
            nft_rules(&all, true),
            [
                NftRule::Loss {
                    ppm: 50_000,
                    select: Select::All
                },
                NftRule::Queue {
                    select: Select::All
                }
            ]
        );
    }

    #[test]
    fn the_delay_goes_to_nfqueue_with_ports_and_a_direction_needs_them() {
        assert_eq!(selected().delay_by(), Some(DelayMechanism::Nfqueue));
        let all = NetFaults {
            port_ranges: vec![],
            ..selected()
        };
        assert_eq!(all.delay_by(), Some(DelayMechanism::Auto));
        assert_eq!(
            all.with_mechanism(DelayMechanism::Netem).delay_by(),
            Some(DelayMechanism::Netem)
        );
        assert_eq!(NetFaults::default().delay_by(), None);
        let lost = NetFaults {
            direction: Direction::In,
            ..all
        };
        assert!(lost.check().unwrap_err().contains("--net-ports"));
        assert!(selected().check().is_ok());
    }

    #[test]
    fn the_queue_rule_is_xt_nfqueue_in_an_output_chain_over_every_selected_port() {
        let f = NetFaults {
            direction: Direction::Out,
            ..selected()
        };
        let b = nft_batch(&f, &nft_rules(&f, true)).unwrap();
        let msgs = messages(&b.bytes);
        let ty = |m: &(u16, u16, u32, &[u8])| m.0 & 0xff;
        // begin, table, input, output, set, its elements, 2 loss, 2 queue, end
        assert_eq!(msgs.len(), 11);
        let output = attrs(&msgs[3].3[4..]);
        assert_eq!(attr(&output, NFTA_CHAIN_NAME), b"output\0");
        let hook = attrs(attr(&output, NFTA_CHAIN_HOOK));
        assert_eq!(
            attr(&hook, NFTA_HOOK_HOOKNUM),
            NF_INET_LOCAL_OUT.to_be_bytes()
        );
        assert_eq!(ty(&msgs[5]), NFT_MSG_NEWSETELEM);
        let elems = attrs(attr(&attrs(&msgs[5].3[4..]), NFTA_SET_ELEM_LIST_ELEMENTS));
        assert_eq!(elems.len(), 12, "9000..=9010 and 443");
        let queue = attrs(&msgs[8].3[4..]);
        assert_eq!(attr(&queue, NFTA_RULE_CHAIN), b"output\0");
        let exprs = attrs(attr(&queue, NFTA_RULE_EXPRESSIONS));
        let last = attrs(exprs.last().unwrap().1);
        assert_eq!(attr(&last, NFTA_EXPR_NAME), b"target\0");
        let target = attrs(attr(&last, NFTA_EXPR_DATA));
        assert_eq!(attr(&target, NFTA_TARGET_NAME), b"NFQUEUE\0");
        assert_eq!(attr(&target, NFTA_TARGET_REV), 3u32.to_be_bytes());
        assert_eq!(attr(&target, NFTA_TARGET_INFO).len(), 8);
    }

    #[test]
    fn many_ports_are_split_into_element_messages() {
        let f = NetFaults {
            drop_ports: (1..=u16::MAX).collect(),
            ..NetFaults::default()
        };
        let b = nft_batch(&f, &nft_rules(&f, false)).unwrap();
        let msgs = messages(&b.bytes);
        let elems: Vec<_> = msgs
            .iter()
            .filter(|m| m.0 == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM)
            .collect();
        assert_eq!(elems.len(), 65_535usize.div_ceil(SET_CHUNK));
        let total: usize = elems
            .iter()
            .map(|m| attrs(attr(&attrs(&m.3[4..]), NFTA_SET_ELEM_LIST_ELEMENTS)).len())
            .sum();
        assert_eq!(total, 65_535);
        assert!(elems.iter().all(|m| m.3.len() < 20_000));
    }

    fn qdisc_options(q: &Qdisc) -> Vec<u8> {
        let req = qdisc_request(q, 1).unwrap();
        let msgs = messages(&req.bytes);
        assert_eq!(msgs.len(), 1);
        let (ty, flags, _, payload) = msgs[0];
        assert_eq!(ty, RTM_NEWQDISC);
        assert_eq!(flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        // tcmsg: ifindex 1, handle 1:0, parent root.
        assert_eq!(&payload[4..8], 1u32.to_ne_bytes());
        assert_eq!(&payload[8..12], 0x10000u32.to_ne_bytes());
        assert_eq!(&payload[12..16], u32::MAX.to_ne_bytes());
        let tca = attrs(&payload[20..]);
        assert_eq!(attr(&tca, TCA_KIND), format!("{}\0", q.kind()).as_bytes());
        attr(&tca, TCA_OPTIONS).to_vec()
    }

    #[test]
    fn netem_gets_its_struct_then_ns_attributes() {
        let f = NetFaults {
            delay_us: Some(100_000),
            jitter_us: Some(10_000),
            rate_bps: Some(8_000_000),
            ..NetFaults::default()
        };
        let q = f.qdisc(true).unwrap();
        let opts = qdisc_options(&q);
        let word = |i: usize| u32::from_ne_bytes(opts[i * 4..i * 4 + 4].try_into().unwrap());
        // 100 ms in 64 ns ticks, the limit, the 10 ms jitter in ticks.
        assert_eq!(word(0), 100_000_000 / 64);
        assert_eq!(word(1), 1000);
        assert_eq!(word(5), 10_000_000 / 64);
        let a = attrs(&opts[24..]);
        assert_eq!(attr(&a, TCA_NETEM_LATENCY64), 100_000_000u64.to_ne_bytes());
        assert_eq!(attr(&a, TCA_NETEM_JITTER64), 10_000_000u64.to_ne_bytes());
        assert_eq!(&attr(&a, TCA_NETEM_RATE)[..4], 1_000_000u32.to_ne_bytes());
        assert!(a.iter().all(|(t, _)| *t != TCA_NETEM_RATE64));
    }

    #[test]
    fn tbf_buckets_hold_a_whole_lo_packet_and_rates_past_u32_use_rate64() {
        let q = Qdisc::tbf(125_000); // 1mbit
        let Qdisc::Tbf {
            burst_bytes,
            limit_bytes,
            ..
        } = q
        else {
            unreachable!()
        };
        assert!(u64::from(burst_bytes) >= LO_PACKET_BYTES);
        assert!(u64::from(limit_bytes) >= u64::from(burst_bytes) + 4 * LO_PACKET_BYTES);
        let opts = qdisc_options(&q);
        let a = attrs(&opts);
        let parms = attr(&a, TCA_TBF_PARMS);
        assert_eq!(parms.len(), 36);
        assert_eq!(parms[1], TC_LINKLAYER_ETHERNET);
        assert_eq!(&parms[8..12], 125_000u32.to_ne_bytes());
        assert_eq!(&parms[24..28], limit_bytes.to_ne_bytes());
        assert_eq!(attr(&a, TCA_TBF_BURST), burst_bytes.to_ne_bytes());
        assert_eq!(attr(&a, TCA_TBF_RATE64), 125_000u64.to_ne_bytes());

        let fast = Qdisc::tbf(u64::MAX / 8);
        let a = qdisc_options(&fast);
        let a = attrs(&a);
        assert_eq!(&attr(&a, TCA_TBF_PARMS)[8..12], u32::MAX.to_ne_bytes());
        assert_eq!(attr(&a, TCA_TBF_RATE64), (u64::MAX / 8).to_ne_bytes());
        assert_eq!(attr(&a, TCA_TBF_BURST), u32::MAX.to_ne_bytes());
    }

    #[test]
    fn a_tiny_rate_is_one_byte_a_second_not_zero() {
        let f = NetFaults {
            rate_bps: Some(1),
            ..NetFaults::default()
        };
        assert!(matches!(
            f.qdisc(true),
            Some(Qdisc::Tbf {
                rate_bytes_per_second: 1,
                ..
            })
        ));
    }

    #[test]
    fn errors_name_the_step_and_what_to_do() {
        assert!(
            NetFaultError::NoNetem
                .to_string()
                .starts_with("--net-delay/--net-jitter need the kernel's netem qdisc (module sch_netem), which this kernel does not have: load it with `modprobe sch_netem` as root")
        );
        let e = NetFaultError::Netlink {
            step: "add the tbf qdisc on lo".into(),
            source: Errno::EPERM.into(),
        };
        let text = e.to_string();
        assert!(
            text.starts_with("failed to add the tbf qdisc on lo: "),
            "{text}"
        );
        assert!(text.ends_with("(this process lacks CAP_NET_ADMIN over its network namespace)"));
    }

    #[test]
    fn faults_round_trip_through_json_and_missing_fields_default() {
        let f = NetFaults {
            rate_bps: Some(1_000_000),
            delay_us: Some(50_000),
            ..faults()
        };
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<NetFaults>(&json).unwrap(), f);
        assert_eq!(
            serde_json::from_str::<NetFaults>("{}").unwrap(),
            NetFaults::default()
        );
    }
}
