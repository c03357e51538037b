//! The relay's on-disk store: core's tables in one redb database, each batch in one ACID
//! transaction.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tabcoin_core::store::{MemoryStore, Table, WriteBatch};

/// What went wrong with the store, worded for the person at the terminal.
#[derive(Debug)]
pub enum StoreError {
    /// Another process (a running `tabcoin startnode`) holds the database.
    InUse,
    /// redb failed; the text says how.
    Database(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::InUse => f.write_str(
                "the store is in use by another process (is `tabcoin startnode` running for this data directory?)",
            ),
            StoreError::Database(e) => write!(f, "store error: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

fn db_error(error: impl std::fmt::Display) -> StoreError {
    StoreError::Database(error.to_string())
}

fn definition(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(table.name())
}

pub struct Store {
    db: Database,
}

impl Store {
    /// Opens (or creates) the database at `path`. Fails with [`StoreError::InUse`] while
    /// another process has it open.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = match Database::create(path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => return Err(StoreError::InUse),
            Err(e) => return Err(db_error(e)),
        };
        // Every table exists from the start, so that reads never meet a missing one.
        let txn = db.begin_write().map_err(db_error)?;
        for table in Table::ALL {
            txn.open_table(definition(table)).map_err(db_error)?;
        }
        txn.commit().map_err(db_error)?;
        Ok(Store { db })
    }

    /// Every table, read into memory (to restore the chain state from).
    pub fn load(&self) -> Result<MemoryStore, StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let mut memory = MemoryStore::new();
        for table in Table::ALL {
            let opened = txn.open_table(definition(table)).map_err(db_error)?;
            for entry in opened.iter().map_err(db_error)? {
                let (key, value) = entry.map_err(db_error)?;
                memory.insert(table, key.value().to_vec(), value.value().to_vec());
            }
        }
        Ok(memory)
    }

    /// Writes `batches` in order, in one transaction: all of them are on disk when this
    /// returns `Ok`, or none is.
    pub fn commit<'a>(&self, batches: impl IntoIterator<Item = &'a WriteBatch>) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_error)?;
        {
            let mut tables = Vec::with_capacity(Table::ALL.len());
            for table in Table::ALL {
                tables.push((table, txn.open_table(definition(table)).map_err(db_error)?));
            }
            for batch in batches {
                for op in &batch.ops {
                    let Some((_, opened)) = tables.iter_mut().find(|(t, _)| *t == op.table) else { continue };
                    match &op.value {
                        Some(value) => opened.insert(op.key.as_slice(), value.as_slice()).map_err(db_error)?,
                        None => opened.remove(op.key.as_slice()).map_err(db_error)?,
                    };
                }
            }
        }
        txn.commit().map_err(db_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_survive_reopening_and_a_second_opener_is_told_the_store_is_in_use() {
        let dir = tempdir();
        let path = dir.join("chain.redb");
        let store = Store::open(&path).unwrap();
        let mut first = WriteBatch::new();
        first.put(Table::Utxo, vec![1], vec![10]);
        first.put(Table::Meta, b"tip".to_vec(), vec![7; 32]);
        let mut second = WriteBatch::new();
        second.delete(Table::Utxo, vec![1]);
        second.put(Table::Utxo, vec![2], vec![20]);
        store.commit([&first, &second]).unwrap();
        assert!(matches!(Store::open(&path), Err(StoreError::InUse)));
        drop(store);

        let loaded = Store::open(&path).unwrap().load().unwrap();
        assert_eq!(loaded.get(Table::Utxo, &[1]), None);
        assert_eq!(loaded.get(Table::Utxo, &[2]), Some(&[20u8][..]));
        assert_eq!(loaded.get(Table::Meta, b"tip"), Some(&[7u8; 32][..]));
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempdir() -> std::path::PathBuf {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap();
        let dir = std::env::temp_dir().join(format!("tabcoin-store-{}", u64::from_le_bytes(bytes)));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
