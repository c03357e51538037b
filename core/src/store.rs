//! What a shell persists: tables of byte keys and values, written in atomic batches.
//!
//! Core never touches a disk or IndexedDB. Connecting or disconnecting blocks yields one
//! [`WriteBatch`]; the shell writes it in one transaction (redb, IndexedDB) and reads the
//! tables back into a [`MemoryStore`] to restore the chain state on start.

use litemap::LiteMap;

use crate::encode::{DecodeError, Encoding};
use crate::hash::BlockHash;
use crate::header::BlockHeader;
use crate::tx::OutPoint;

/// The tables, with the key each one uses.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Table {
    /// Key: a name (`tip`). Value: a block hash.
    Meta,
    /// Key: block hash. Value: [`IndexRecord`].
    Index,
    /// Key: block hash. Value: the block's consensus encoding.
    Blocks,
    /// Key: block hash of a connected block. Value: its [`crate::utxo::BlockUndo`].
    Undo,
    /// Key: outpoint (txid, vout). Value: [`crate::utxo::Coin`].
    Utxo,
}

impl Table {
    pub const ALL: [Table; 5] = [Table::Meta, Table::Index, Table::Blocks, Table::Undo, Table::Utxo];

    /// A stable name for stores that name their tables (redb tables, IndexedDB object stores).
    pub fn name(&self) -> &'static str {
        match self {
            Table::Meta => "meta",
            Table::Index => "index",
            Table::Blocks => "blocks",
            Table::Undo => "undo",
            Table::Utxo => "utxo",
        }
    }
}

/// The key of the best tip in [`Table::Meta`].
pub const META_TIP: &[u8] = b"tip";
/// Meta key: the generation of consensus rules the chain was stored under (u32, little-endian);
/// absent in stores written before the first change of rules, which are generation 1.
pub const META_RULES: &[u8] = b"rules";

/// One write: `value` `None` deletes the key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct WriteOp {
    pub table: Table,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// Writes that must be committed together or not at all, applied in order.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct WriteBatch {
    pub ops: Vec<WriteOp>,
}

impl WriteBatch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push(WriteOp { table, key, value: Some(value) });
    }

    pub fn delete(&mut self, table: Table, key: Vec<u8>) {
        self.ops.push(WriteOp { table, key, value: None });
    }

    /// Appends another batch's writes after this one's.
    pub fn extend(&mut self, other: WriteBatch) {
        self.ops.extend(other.ops);
    }

    pub(crate) fn truncate(&mut self, len: usize) {
        self.ops.truncate(len);
    }
}

/// The writes of `batches` that one transaction must make, in their order: of several writes
/// to one key only the last counts (during sync the tip is rewritten by every block, and a coin
/// made in one block is often spent a block later: about a third of the writes).
pub fn final_writes(batches: &[WriteBatch]) -> Vec<&WriteOp> {
    let ops: Vec<&WriteOp> = batches.iter().flat_map(|b| &b.ops).collect();
    // By key, then position: a write followed by one to the same key is replaced.
    let order = crate::sort::sorted_positions(ops.len(), &|a, b| {
        (ops[a].table, &ops[a].key, a).cmp(&(ops[b].table, &ops[b].key, b))
    });
    let mut replaced = vec![false; ops.len()];
    for pair in order.windows(2) {
        let (earlier, later) = (ops[pair[0]], ops[pair[1]]);
        if earlier.table == later.table && earlier.key == later.key {
            replaced[pair[0]] = true;
        }
    }
    ops.into_iter().zip(replaced).filter(|(_, replaced)| !replaced).map(|(op, _)| op).collect()
}

pub fn outpoint_key(outpoint: &OutPoint) -> Vec<u8> {
    outpoint.to_bytes()
}

/// An index entry as stored: the header, its height and whether its body is stored.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct IndexRecord {
    pub header: BlockHeader,
    pub height: u32,
    pub has_data: bool,
    /// The block was found invalid (kept so that a restart remembers it).
    pub invalid: bool,
}

impl Encoding for IndexRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.header.encode_to(out);
        self.height.encode_to(out);
        out.push(u8::from(self.has_data) | u8::from(self.invalid) << 1);
    }
    fn decode_from(r: &mut crate::encode::Reader<'_>) -> Result<Self, DecodeError> {
        let header = BlockHeader::decode_from(r)?;
        let height = r.u32()?;
        let flags = r.u8()?;
        if flags > 3 {
            return Err(DecodeError::Invalid { what: "index flags", reason: "only bits 0 (data) and 1 (invalid)" });
        }
        Ok(IndexRecord { header, height, has_data: flags & 1 == 1, invalid: flags & 2 == 2 })
    }
}

/// Reads a block hash key.
pub fn block_hash_key(key: &[u8]) -> Result<BlockHash, DecodeError> {
    BlockHash::from_bytes(key)
}

/// Tables in memory: what the simulation persists, and what a shell reads its store into
/// before restoring the chain state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryStore {
    tables: LiteMap<Table, LiteMap<Vec<u8>, Vec<u8>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn apply(&mut self, batch: &WriteBatch) {
        for op in &batch.ops {
            let table = self.tables.entry(op.table).or_default();
            match &op.value {
                Some(value) => {
                    table.insert(op.key.clone(), value.clone());
                }
                None => {
                    table.remove(&op.key);
                }
            }
        }
    }

    pub fn insert(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.tables.entry(table).or_default().insert(key, value);
    }

    pub fn get(&self, table: Table, key: &[u8]) -> Option<&[u8]> {
        self.tables.get(&table)?.get(key).map(Vec::as_slice)
    }

    /// Every key and value of a table, in key order.
    pub fn iter(&self, table: Table) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.tables.get(&table).into_iter().flatten().map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    pub fn table_len(&self, table: Table) -> usize {
        self.tables.get(&table).map_or(0, LiteMap::len)
    }

    pub fn is_empty(&self) -> bool {
        self.tables.values().all(LiteMap::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::MerkleRoot;
    use crate::pow::CompactTarget;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn final_writes_leave_what_all_writes_leave(
            batches in prop::collection::vec(
                prop::collection::vec((0usize..3, 0u8..6, prop::option::of(any::<u8>())), 0..12),
                0..5,
            ),
        ) {
            let tables = [Table::Meta, Table::Utxo, Table::Index];
            let batches: Vec<WriteBatch> = batches
                .into_iter()
                .map(|ops| WriteBatch {
                    ops: ops
                        .into_iter()
                        .map(|(t, key, value)| WriteOp { table: tables[t], key: vec![key], value: value.map(|v| vec![v]) })
                        .collect(),
                })
                .collect();
            let mut all = MemoryStore::new();
            let mut keys = Vec::new();
            for batch in &batches {
                all.apply(batch);
                keys.extend(batch.ops.iter().map(|op| (op.table, op.key.clone())));
            }
            let finals = final_writes(&batches);
            let mut last = MemoryStore::new();
            last.apply(&WriteBatch { ops: finals.iter().map(|op| (*op).clone()).collect() });
            prop_assert_eq!(&last, &all);
            // One write per key written, in the order of the writes kept.
            keys.sort();
            keys.dedup();
            prop_assert_eq!(finals.len(), keys.len());
            let positions: Vec<usize> = finals
                .iter()
                .map(|f| batches.iter().flat_map(|b| &b.ops).position(|op| std::ptr::eq(op, *f)).unwrap())
                .collect();
            prop_assert!(positions.windows(2).all(|w| w[0] < w[1]));
        }

        #[test]
        fn index_record_round_trip(prev in any::<[u8; 32]>(), root in any::<[u8; 32]>(), fields in any::<(u32, u32, u32, u32, u32)>(), has_data in any::<bool>(), invalid in any::<bool>()) {
            let (version, time, bits, nonce, height) = fields;
            let header = BlockHeader { version, prev_blockhash: BlockHash(prev), merkle_root: MerkleRoot(root), time, bits: CompactTarget(bits), nonce };
            let record = IndexRecord { header, height, has_data, invalid };
            prop_assert_eq!(IndexRecord::from_bytes(&record.to_bytes()).unwrap(), record);
        }

        #[test]
        fn decoding_random_records_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..120)) {
            let _ = IndexRecord::from_bytes(&bytes);
            let _ = block_hash_key(&bytes);
            let _ = OutPoint::from_bytes(&bytes);
        }
    }

    #[test]
    fn batches_apply_in_order() {
        let mut batch = WriteBatch::new();
        batch.put(Table::Utxo, vec![1], vec![10]);
        batch.delete(Table::Utxo, vec![1]);
        batch.put(Table::Utxo, vec![2], vec![20]);
        let mut store = MemoryStore::new();
        store.apply(&batch);
        assert_eq!(store.get(Table::Utxo, &[1]), None);
        assert_eq!(store.get(Table::Utxo, &[2]), Some(&[20u8][..]));
        assert_eq!(store.table_len(Table::Utxo), 1);
    }
}
