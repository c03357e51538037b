//! The wire protocol: one message per WebSocket binary frame, a 24-byte envelope and a
//! payload. Every limit is checked while decoding, before anything is allocated.

use core::fmt;

use crate::block::Block;
use crate::encode::{DecodeError, Encoding, Reader, write_compact_size, write_list, write_var_bytes};
use crate::hash::{BlockHash, Txid, sha256d};
use crate::header::{BlockHeader, HEADER_BYTES};
use crate::pow::Work;
use crate::tx::Transaction;

/// Protocol version this implementation speaks.
pub const PROTOCOL_VERSION: u32 = 2;
/// Bytes of the envelope before the payload.
pub const ENVELOPE_BYTES: usize = 24;
/// Largest payload a peer may send.
pub const MAX_PAYLOAD_BYTES: usize = 4_000_000;
/// Most items in one `inv`, `getdata` or `notfound`.
pub const MAX_INV_ITEMS: usize = 50_000;
/// Most hashes in a block locator.
pub const MAX_LOCATOR_HASHES: usize = 101;
/// Most headers in one `headers` message.
pub const MAX_HEADERS: usize = 2_000;
/// Most addresses in one `addr` message.
pub const MAX_ADDRS: usize = 1_000;
/// Longest relay address (a `ws://` or `wss://` URL).
pub const MAX_ADDR_BYTES: usize = 200;
/// Longest user agent in `version`.
pub const MAX_USER_AGENT_BYTES: usize = 64;
/// Longest reason in `reject`.
pub const MAX_REJECT_REASON_BYTES: usize = 256;
const COMMAND_BYTES: usize = 12;

/// What a node does, announced in `version`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Role {
    /// The central node: validates and forwards; mines only when asked.
    Relay,
    Wallet,
    Miner,
}

impl Role {
    fn code(self) -> u8 {
        match self {
            Role::Relay => 1,
            Role::Wallet => 2,
            Role::Miner => 3,
        }
    }

    fn from_code(code: u8) -> Result<Role, DecodeError> {
        match code {
            1 => Ok(Role::Relay),
            2 => Ok(Role::Wallet),
            3 => Ok(Role::Miner),
            _ => Err(DecodeError::Invalid { what: "role", reason: "must be 1 (relay), 2 (wallet) or 3 (miner)" }),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Relay => "relay",
            Role::Wallet => "wallet",
            Role::Miner => "miner",
        })
    }
}

/// The handshake's first message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Version {
    pub protocol_version: u32,
    pub role: Role,
    /// The chain the sender follows; zero if it has none yet (a fresh tab).
    pub genesis: BlockHash,
    pub best_height: u32,
    pub best_work: Work,
    /// The sender's clock, seconds since the Unix epoch.
    pub time: u64,
    /// Random per connection: a node that receives its own nonce is talking to itself.
    pub nonce: u64,
    pub user_agent: String,
}

/// What an inventory item names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Inventory {
    Tx(Txid),
    Block(BlockHash),
}

/// A relay's address, gossiped by `addr`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PeerAddress {
    /// A `ws://` or `wss://` URL.
    pub url: String,
    /// When the sender last heard from it, seconds since the Unix epoch.
    pub last_seen: u64,
}

/// Asks for headers after the first locator hash the receiver knows, up to `stop` (zero: as
/// many as fit in one `headers`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GetHeaders {
    pub locator: Vec<BlockHash>,
    pub stop: BlockHash,
}

/// Why a message was refused, so a wallet can show it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RejectCode {
    /// The message could not be decoded.
    Malformed,
    /// It breaks a consensus rule.
    Invalid,
    /// It is fine by consensus but not by this node's policy (fee, mempool full, chain depth).
    Policy,
    /// It double-spends an output already spent.
    Duplicate,
}

impl RejectCode {
    fn code(self) -> u8 {
        match self {
            RejectCode::Malformed => 0x01,
            RejectCode::Invalid => 0x10,
            RejectCode::Duplicate => 0x12,
            RejectCode::Policy => 0x40,
        }
    }

    fn from_code(code: u8) -> Result<RejectCode, DecodeError> {
        match code {
            0x01 => Ok(RejectCode::Malformed),
            0x10 => Ok(RejectCode::Invalid),
            0x12 => Ok(RejectCode::Duplicate),
            0x40 => Ok(RejectCode::Policy),
            _ => Err(DecodeError::Invalid { what: "reject code", reason: "unknown code" }),
        }
    }
}

/// A refusal of a transaction or block the peer sent.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Reject {
    pub item: Inventory,
    pub code: RejectCode,
    /// Human-readable, for the wallet to show.
    pub reason: String,
}

/// Every protocol message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Message {
    Version(Version),
    Verack,
    Ping(u64),
    Pong(u64),
    GetAddr,
    Addr(Vec<PeerAddress>),
    Inv(Vec<Inventory>),
    GetData(Vec<Inventory>),
    NotFound(Vec<Inventory>),
    GetHeaders(GetHeaders),
    Headers(Vec<BlockHeader>),
    Block(Block),
    Tx(Transaction),
    Mempool,
    Reject(Reject),
}

/// Why a frame is not a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// Shorter than the envelope.
    Truncated {
        bytes: usize,
    },
    /// Another network's magic.
    WrongMagic {
        expected: [u8; 4],
        found: [u8; 4],
    },
    /// The command field is not a known command (or not NUL-padded ASCII).
    UnknownCommand(String),
    PayloadTooLarge {
        bytes: usize,
        max: usize,
    },
    /// The envelope's length differs from the payload that came.
    LengthMismatch {
        declared: usize,
        actual: usize,
    },
    BadChecksum,
    /// The payload does not decode as its command says.
    Payload {
        command: &'static str,
        error: DecodeError,
    },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Truncated { bytes } => {
                write!(f, "a message of {bytes} bytes is shorter than the {ENVELOPE_BYTES}-byte envelope")
            }
            ProtocolError::WrongMagic { expected, found } => write!(
                f,
                "the message is for another network (magic {}, expected {})",
                crate::hash::to_hex(found),
                crate::hash::to_hex(expected)
            ),
            ProtocolError::UnknownCommand(c) => write!(f, "unknown command {c:?}"),
            ProtocolError::PayloadTooLarge { bytes, max } => {
                write!(f, "a payload of {bytes} bytes is over the {max}-byte limit")
            }
            ProtocolError::LengthMismatch { declared, actual } => {
                write!(f, "the envelope declares {declared} payload bytes but {actual} came")
            }
            ProtocolError::BadChecksum => f.write_str("the payload checksum does not match"),
            ProtocolError::Payload { command, error } => write!(f, "malformed {command}: {error}"),
        }
    }
}

impl std::error::Error for ProtocolError {}

const INV_TX: u32 = 1;
const INV_BLOCK: u32 = 2;
const INV_ITEM_BYTES: usize = 36;
const ADDR_MIN_BYTES: usize = 1 + 8;

impl Encoding for Inventory {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            Inventory::Tx(txid) => {
                INV_TX.encode_to(out);
                txid.encode_to(out);
            }
            Inventory::Block(hash) => {
                INV_BLOCK.encode_to(out);
                hash.encode_to(out);
            }
        }
    }
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u32()? {
            INV_TX => Ok(Inventory::Tx(Txid::decode_from(r)?)),
            INV_BLOCK => Ok(Inventory::Block(BlockHash::decode_from(r)?)),
            _ => Err(DecodeError::Invalid { what: "inventory type", reason: "must be 1 (tx) or 2 (block)" }),
        }
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    write_var_bytes(out, s.as_bytes());
}

fn read_string(r: &mut Reader<'_>, what: &'static str, max: usize) -> Result<String, DecodeError> {
    let bytes = r.var_bytes(what, max)?;
    String::from_utf8(bytes).map_err(|_| DecodeError::Invalid { what, reason: "not UTF-8" })
}

impl Encoding for PeerAddress {
    fn encode_to(&self, out: &mut Vec<u8>) {
        write_string(out, &self.url);
        self.last_seen.encode_to(out);
    }
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PeerAddress { url: read_string(r, "address bytes", MAX_ADDR_BYTES)?, last_seen: r.u64()? })
    }
}

impl Encoding for Version {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.protocol_version.encode_to(out);
        out.push(self.role.code());
        self.genesis.encode_to(out);
        self.best_height.encode_to(out);
        out.extend_from_slice(&self.best_work.to_be_bytes());
        self.time.encode_to(out);
        self.nonce.encode_to(out);
        write_string(out, &self.user_agent);
    }
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Version {
            protocol_version: r.u32()?,
            role: Role::from_code(r.u8()?)?,
            genesis: BlockHash::decode_from(r)?,
            best_height: r.u32()?,
            best_work: Work::from_be_bytes(r.array::<32>()?),
            time: r.u64()?,
            nonce: r.u64()?,
            user_agent: read_string(r, "user agent bytes", MAX_USER_AGENT_BYTES)?,
        })
    }
}

impl Encoding for GetHeaders {
    fn encode_to(&self, out: &mut Vec<u8>) {
        write_list(out, &self.locator);
        self.stop.encode_to(out);
    }
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(GetHeaders { locator: r.list("locator hashes", MAX_LOCATOR_HASHES, 32)?, stop: BlockHash::decode_from(r)? })
    }
}

impl Encoding for Reject {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.item.encode_to(out);
        out.push(self.code.code());
        write_string(out, &self.reason);
    }
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Reject {
            item: Inventory::decode_from(r)?,
            code: RejectCode::from_code(r.u8()?)?,
            reason: read_string(r, "reject reason bytes", MAX_REJECT_REASON_BYTES)?,
        })
    }
}

impl Message {
    /// The command name in the envelope, as the seed named its commands.
    pub fn command(&self) -> &'static str {
        match self {
            Message::Version(_) => "version",
            Message::Verack => "verack",
            Message::Ping(_) => "ping",
            Message::Pong(_) => "pong",
            Message::GetAddr => "getaddr",
            Message::Addr(_) => "addr",
            Message::Inv(_) => "inv",
            Message::GetData(_) => "getdata",
            Message::NotFound(_) => "notfound",
            Message::GetHeaders(_) => "getheaders",
            Message::Headers(_) => "headers",
            Message::Block(_) => "block",
            Message::Tx(_) => "tx",
            Message::Mempool => "mempool",
            Message::Reject(_) => "reject",
        }
    }

    fn encode_payload(&self, out: &mut Vec<u8>) {
        match self {
            Message::Version(v) => v.encode_to(out),
            Message::Verack | Message::GetAddr | Message::Mempool => {}
            Message::Ping(nonce) | Message::Pong(nonce) => nonce.encode_to(out),
            Message::Addr(addrs) => write_list(out, addrs),
            Message::Inv(items) | Message::GetData(items) | Message::NotFound(items) => write_list(out, items),
            Message::GetHeaders(g) => g.encode_to(out),
            Message::Headers(headers) => {
                write_compact_size(out, headers.len() as u64);
                for header in headers {
                    header.encode_to(out);
                }
            }
            Message::Block(block) => block.encode_to(out),
            Message::Tx(tx) => tx.encode_to(out),
            Message::Reject(reject) => reject.encode_to(out),
        }
    }

    /// The payload of `command`, which must fill `payload` exactly.
    fn decode_payload(command: &'static str, payload: &[u8]) -> Result<Message, DecodeError> {
        let mut r = Reader::new(payload);
        let message = match command {
            "version" => Message::Version(Version::decode_from(&mut r)?),
            "verack" => Message::Verack,
            "ping" => Message::Ping(r.u64()?),
            "pong" => Message::Pong(r.u64()?),
            "getaddr" => Message::GetAddr,
            "addr" => Message::Addr(r.list("addresses", MAX_ADDRS, ADDR_MIN_BYTES)?),
            "inv" => Message::Inv(r.list("inventory items", MAX_INV_ITEMS, INV_ITEM_BYTES)?),
            "getdata" => Message::GetData(r.list("inventory items", MAX_INV_ITEMS, INV_ITEM_BYTES)?),
            "notfound" => Message::NotFound(r.list("inventory items", MAX_INV_ITEMS, INV_ITEM_BYTES)?),
            "getheaders" => Message::GetHeaders(GetHeaders::decode_from(&mut r)?),
            "headers" => Message::Headers(r.list("headers", MAX_HEADERS, HEADER_BYTES)?),
            "block" => Message::Block(Block::decode_from(&mut r)?),
            "tx" => Message::Tx(Transaction::decode_from(&mut r)?),
            "mempool" => Message::Mempool,
            "reject" => Message::Reject(Reject::decode_from(&mut r)?),
            _ => {
                return Err(DecodeError::Invalid { what: "command", reason: "not a known command" });
            }
        };
        r.finish()?;
        Ok(message)
    }

    /// The whole frame: envelope and payload.
    pub fn to_frame(&self, magic: [u8; 4]) -> Vec<u8> {
        let mut payload = Vec::new();
        self.encode_payload(&mut payload);
        let mut frame = Vec::with_capacity(ENVELOPE_BYTES + payload.len());
        frame.extend_from_slice(&magic);
        let mut command = [0u8; COMMAND_BYTES];
        let name = self.command().as_bytes();
        command[..name.len()].copy_from_slice(name);
        frame.extend_from_slice(&command);
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&sha256d(&payload)[..4]);
        frame.extend_from_slice(&payload);
        frame
    }

    /// Reads one frame of the network with `magic`.
    pub fn from_frame(frame: &[u8], magic: [u8; 4]) -> Result<Message, ProtocolError> {
        if frame.len() < ENVELOPE_BYTES {
            return Err(ProtocolError::Truncated { bytes: frame.len() });
        }
        let (envelope, payload) = frame.split_at(ENVELOPE_BYTES);
        let mut found = [0u8; 4];
        found.copy_from_slice(&envelope[0..4]);
        if found != magic {
            return Err(ProtocolError::WrongMagic { expected: magic, found });
        }
        let command = parse_command(&envelope[4..16])?;
        let mut length = [0u8; 4];
        length.copy_from_slice(&envelope[16..20]);
        let declared = u32::from_le_bytes(length) as usize;
        if declared > MAX_PAYLOAD_BYTES {
            return Err(ProtocolError::PayloadTooLarge { bytes: declared, max: MAX_PAYLOAD_BYTES });
        }
        if declared != payload.len() {
            return Err(ProtocolError::LengthMismatch { declared, actual: payload.len() });
        }
        if sha256d(payload)[..4] != envelope[20..24] {
            return Err(ProtocolError::BadChecksum);
        }
        Message::decode_payload(command, payload).map_err(|error| ProtocolError::Payload { command, error })
    }
}

const COMMANDS: [&str; 15] = [
    "version",
    "verack",
    "ping",
    "pong",
    "getaddr",
    "addr",
    "inv",
    "getdata",
    "notfound",
    "getheaders",
    "headers",
    "block",
    "tx",
    "mempool",
    "reject",
];

/// The known command named by a NUL-padded field (nothing but NULs after the name).
fn parse_command(field: &[u8]) -> Result<&'static str, ProtocolError> {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    let (name, padding) = field.split_at(end);
    let shown = String::from_utf8_lossy(name).into_owned();
    if padding.iter().any(|b| *b != 0) {
        return Err(ProtocolError::UnknownCommand(shown));
    }
    COMMANDS.iter().find(|c| c.as_bytes() == name).copied().ok_or(ProtocolError::UnknownCommand(shown))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::tests::arb_block;
    use crate::hash::MerkleRoot;
    use crate::pow::CompactTarget;
    use crate::tx::tests::arb_tx;
    use proptest::prelude::*;

    const MAGIC: [u8; 4] = [0xf4, 0xab, 0xc0, 0x7e];

    fn arb_inventory() -> impl Strategy<Value = Inventory> {
        prop_oneof![
            any::<[u8; 32]>().prop_map(|h| Inventory::Tx(Txid(h))),
            any::<[u8; 32]>().prop_map(|h| Inventory::Block(BlockHash(h))),
        ]
    }

    fn arb_header() -> impl Strategy<Value = BlockHeader> {
        any::<[u8; 80]>().prop_map(|bytes| BlockHeader::from_bytes(&bytes).unwrap())
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        let role = prop_oneof![Just(Role::Relay), Just(Role::Wallet), Just(Role::Miner)];
        let version = (
            any::<u32>(),
            role,
            any::<[u8; 32]>(),
            any::<u32>(),
            any::<[u8; 32]>(),
            any::<u64>(),
            any::<u64>(),
            "[a-z/0-9.]{0,64}",
        )
            .prop_map(|(protocol_version, role, genesis, best_height, work, time, nonce, user_agent)| {
                Message::Version(Version {
                    protocol_version,
                    role,
                    genesis: BlockHash(genesis),
                    best_height,
                    best_work: Work::from_be_bytes(work),
                    time,
                    nonce,
                    user_agent,
                })
            });
        let addr = prop::collection::vec(
            ("ws://[a-z0-9.:/]{0,40}", any::<u64>()).prop_map(|(url, last_seen)| PeerAddress { url, last_seen }),
            0..5,
        );
        let items = || prop::collection::vec(arb_inventory(), 0..6);
        let code = prop_oneof![
            Just(RejectCode::Malformed),
            Just(RejectCode::Invalid),
            Just(RejectCode::Duplicate),
            Just(RejectCode::Policy)
        ];
        prop_oneof![
            version,
            Just(Message::Verack),
            any::<u64>().prop_map(Message::Ping),
            any::<u64>().prop_map(Message::Pong),
            Just(Message::GetAddr),
            addr.prop_map(Message::Addr),
            items().prop_map(Message::Inv),
            items().prop_map(Message::GetData),
            items().prop_map(Message::NotFound),
            (prop::collection::vec(any::<[u8; 32]>().prop_map(BlockHash), 0..8), any::<[u8; 32]>())
                .prop_map(|(locator, stop)| Message::GetHeaders(GetHeaders { locator, stop: BlockHash(stop) })),
            prop::collection::vec(arb_header(), 0..4).prop_map(Message::Headers),
            arb_block().prop_map(Message::Block),
            arb_tx().prop_map(Message::Tx),
            Just(Message::Mempool),
            (arb_inventory(), code, "\\PC{0,40}").prop_map(|(item, code, reason)| Message::Reject(Reject {
                item,
                code,
                reason
            })),
        ]
    }

    proptest! {
        #[test]
        fn every_message_round_trips(message in arb_message()) {
            let frame = message.to_frame(MAGIC);
            prop_assert_eq!(Message::from_frame(&frame, MAGIC).unwrap(), message);
        }

        #[test]
        fn decoding_random_frames_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = Message::from_frame(&bytes, MAGIC);
        }

        #[test]
        fn random_payloads_under_a_valid_envelope_never_panic(command in 0..COMMANDS.len(), payload in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut frame = MAGIC.to_vec();
            let mut field = [0u8; 12];
            field[..COMMANDS[command].len()].copy_from_slice(COMMANDS[command].as_bytes());
            frame.extend_from_slice(&field);
            frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            frame.extend_from_slice(&sha256d(&payload)[..4]);
            frame.extend_from_slice(&payload);
            let _ = Message::from_frame(&frame, MAGIC);
        }
    }

    #[test]
    fn the_envelope_is_exact() {
        let frame = Message::Ping(0x0102_0304_0506_0708).to_frame(MAGIC);
        assert_eq!(&frame[0..4], &MAGIC);
        assert_eq!(&frame[4..16], b"ping\0\0\0\0\0\0\0\0");
        assert_eq!(&frame[16..20], &8u32.to_le_bytes());
        assert_eq!(&frame[20..24], &sha256d(&frame[24..])[..4]);
        assert_eq!(&frame[24..], &[8, 7, 6, 5, 4, 3, 2, 1]);
        // An empty payload's checksum is SHA-256d of nothing: 5df6e0e2.
        assert_eq!(&Message::Verack.to_frame(MAGIC)[20..24], &[0x5d, 0xf6, 0xe0, 0xe2]);
    }

    #[test]
    fn envelope_errors_are_typed() {
        let frame = Message::Ping(7).to_frame(MAGIC);
        assert_eq!(Message::from_frame(&frame[..10], MAGIC), Err(ProtocolError::Truncated { bytes: 10 }));
        let other = [1, 2, 3, 4];
        assert_eq!(
            Message::from_frame(&frame, other),
            Err(ProtocolError::WrongMagic { expected: other, found: MAGIC })
        );

        let mut bad_checksum = frame.clone();
        bad_checksum[30] ^= 1;
        assert_eq!(Message::from_frame(&bad_checksum, MAGIC), Err(ProtocolError::BadChecksum));

        let mut unknown = frame.clone();
        unknown[4..16].copy_from_slice(b"pingx\0\0\0\0\0\0\0");
        assert_eq!(Message::from_frame(&unknown, MAGIC), Err(ProtocolError::UnknownCommand("pingx".into())));
        let mut unpadded = frame.clone();
        unpadded[4..16].copy_from_slice(b"ping\0\0\0\0\0\0\0x");
        assert!(matches!(Message::from_frame(&unpadded, MAGIC), Err(ProtocolError::UnknownCommand(_))));

        let mut short = frame.clone();
        short.pop();
        assert_eq!(Message::from_frame(&short, MAGIC), Err(ProtocolError::LengthMismatch { declared: 8, actual: 7 }));

        let mut oversize = frame.clone();
        oversize[16..20].copy_from_slice(&4_000_001u32.to_le_bytes());
        assert_eq!(
            Message::from_frame(&oversize, MAGIC),
            Err(ProtocolError::PayloadTooLarge { bytes: 4_000_001, max: MAX_PAYLOAD_BYTES })
        );
    }

    /// Builds a frame with a hand-made payload, valid envelope.
    fn frame_with(command: &str, payload: &[u8]) -> Vec<u8> {
        let mut frame = MAGIC.to_vec();
        let mut field = [0u8; 12];
        field[..command.len()].copy_from_slice(command.as_bytes());
        frame.extend_from_slice(&field);
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&sha256d(payload)[..4]);
        frame.extend_from_slice(payload);
        frame
    }

    #[test]
    fn list_limits_are_checked_before_allocating() {
        // 50,001 inventory items declared: refused from the count alone.
        let mut payload = Vec::new();
        write_compact_size(&mut payload, 50_001);
        assert!(matches!(
            Message::from_frame(&frame_with("inv", &payload), MAGIC),
            Err(ProtocolError::Payload { command: "inv", error: DecodeError::TooMany { max: 50_000, .. } })
        ));
        // 102 locator hashes.
        let mut payload = Vec::new();
        write_compact_size(&mut payload, 102);
        assert!(matches!(
            Message::from_frame(&frame_with("getheaders", &payload), MAGIC),
            Err(ProtocolError::Payload { error: DecodeError::TooMany { max: 101, .. }, .. })
        ));
        // 2,001 headers.
        let mut payload = Vec::new();
        write_compact_size(&mut payload, 2_001);
        assert!(matches!(
            Message::from_frame(&frame_with("headers", &payload), MAGIC),
            Err(ProtocolError::Payload { error: DecodeError::TooMany { max: 2_000, .. }, .. })
        ));
        // 40,000 items claimed with one item's bytes: refused before allocating.
        let mut payload = Vec::new();
        write_compact_size(&mut payload, 40_000);
        Inventory::Tx(Txid([1; 32])).encode_to(&mut payload);
        assert!(matches!(
            Message::from_frame(&frame_with("getdata", &payload), MAGIC),
            Err(ProtocolError::Payload { error: DecodeError::UnexpectedEnd { .. }, .. })
        ));
    }

    #[test]
    fn payloads_must_be_consumed_exactly() {
        assert!(matches!(
            Message::from_frame(&frame_with("verack", &[0]), MAGIC),
            Err(ProtocolError::Payload { command: "verack", error: DecodeError::TrailingBytes(1) })
        ));
        let mut payload = 9u64.to_le_bytes().to_vec();
        payload.push(0);
        assert!(matches!(
            Message::from_frame(&frame_with("pong", &payload), MAGIC),
            Err(ProtocolError::Payload { error: DecodeError::TrailingBytes(1), .. })
        ));
    }

    #[test]
    fn a_full_headers_message_fits_the_payload_limit() {
        let header = BlockHeader {
            version: 1,
            prev_blockhash: BlockHash::ZERO,
            merkle_root: MerkleRoot::ZERO,
            time: 0,
            bits: CompactTarget(0x207fffff),
            nonce: 0,
        };
        let message = Message::Headers(vec![header; MAX_HEADERS]);
        let frame = message.to_frame(MAGIC);
        assert!(frame.len() - ENVELOPE_BYTES <= MAX_PAYLOAD_BYTES);
        assert_eq!(Message::from_frame(&frame, MAGIC).unwrap(), message);
    }
}
