//! The tab's store: core's tables in IndexedDB, one object store per table, byte keys and
//! byte values. A list of write batches is one `readwrite` transaction with strict durability:
//! a block, its UTXO changes and the new tip are never split, and during sync one transaction
//! carries a run of whole blocks.

use std::fmt;

use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use tabcoin_core::store::{MemoryStore, Table, WriteBatch, final_writes};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbFactory, IdbObjectStore, IdbOpenDbRequest, IdbRequest, IdbTransaction};

/// The schema's version. Version 1: one object store per core table, plus `wallet`. A later
/// version adds its steps to [`upgrade`], each guarded by the version it starts from.
pub const SCHEMA_VERSION: u32 = 1;
/// The object store for the wallet's key set (encrypted or not), key `keys`.
pub const WALLET_STORE: &str = "wallet";

#[wasm_bindgen]
extern "C" {
    /// An `IDBDatabase`, for the one call web-sys gates behind its unstable APIs.
    #[wasm_bindgen(extends = IdbDatabase)]
    type DurableDatabase;

    /// `IDBDatabase.transaction(names, mode, { durability })`.
    #[wasm_bindgen(method, js_name = transaction, catch)]
    fn transaction_with_options(
        this: &DurableDatabase,
        names: &Array,
        mode: &str,
        options: &Object,
    ) -> Result<IdbTransaction, JsValue>;
}

/// What went wrong, worded for the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// This browser context has no IndexedDB (a private window may refuse it).
    Unavailable,
    /// Another tab holds an older version of the database open.
    Blocked,
    /// IndexedDB refused: the browser's message.
    Failed(String),
    /// A stored record is not what tabcoin wrote.
    Corrupt(&'static str),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Unavailable => f.write_str("this browser offers no IndexedDB here (is it a private window?)"),
            StoreError::Blocked => f.write_str("another tab holds an older version of this node's database open"),
            StoreError::Failed(e) => write!(f, "IndexedDB failed: {e}"),
            StoreError::Corrupt(what) => write!(f, "the stored data is damaged: {what}"),
        }
    }
}

impl std::error::Error for StoreError {}

fn failed(error: JsValue) -> StoreError {
    let text = error
        .dyn_ref::<web_sys::DomException>()
        .map(|e| format!("{}: {}", e.name(), e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| format!("{error:?}"));
    StoreError::Failed(text)
}

fn factory() -> Result<IdbFactory, StoreError> {
    let global = js_sys::global();
    let factory = if let Some(window) = global.dyn_ref::<web_sys::Window>() {
        window.indexed_db()
    } else if let Some(worker) = global.dyn_ref::<web_sys::WorkerGlobalScope>() {
        worker.indexed_db()
    } else {
        return Err(StoreError::Unavailable);
    };
    factory.map_err(failed)?.ok_or(StoreError::Unavailable)
}

/// Resolves with the request's result once it succeeds.
async fn finished(request: &IdbRequest) -> Result<JsValue, StoreError> {
    let promise = Promise::new(&mut |resolve, reject| {
        let on_success = request.clone();
        let success = Closure::once_into_js(move || {
            let _ = resolve.call1(&JsValue::NULL, &on_success.result().unwrap_or(JsValue::UNDEFINED));
        });
        let on_error = request.clone();
        let error = Closure::once_into_js(move || {
            let error = on_error.error().ok().flatten().map_or(JsValue::UNDEFINED, JsValue::from);
            let _ = reject.call1(&JsValue::NULL, &error);
        });
        request.set_onsuccess(Some(success.unchecked_ref()));
        request.set_onerror(Some(error.unchecked_ref()));
    });
    JsFuture::from(promise).await.map_err(failed)
}

/// Resolves once `transaction` commits; fails if it aborts.
fn committed(transaction: &IdbTransaction) -> JsFuture {
    let promise = Promise::new(&mut |resolve, reject| {
        let complete = Closure::once_into_js(move || {
            let _ = resolve.call0(&JsValue::NULL);
        });
        let aborted = transaction.clone();
        let abort = Closure::once_into_js(move || {
            let error = aborted.error().map_or_else(|| JsValue::from_str("the transaction was aborted"), JsValue::from);
            let _ = reject.call1(&JsValue::NULL, &error);
        });
        transaction.set_oncomplete(Some(complete.unchecked_ref()));
        // An error aborts the transaction, and the abort event follows: one place to reject.
        transaction.set_onabort(Some(abort.unchecked_ref()));
    });
    JsFuture::from(promise)
}

/// The object stores of the chain's tables.
fn table_names() -> Array {
    Table::ALL.iter().map(|t| JsValue::from_str(t.name())).collect()
}

/// Creates what each version adds, from the version the database had.
fn upgrade(db: &IdbDatabase, old_version: u32) -> Result<(), JsValue> {
    if old_version < 1 {
        for table in Table::ALL {
            db.create_object_store(table.name())?;
        }
        db.create_object_store(WALLET_STORE)?;
    }
    Ok(())
}

fn bytes(value: &JsValue) -> Vec<u8> {
    Uint8Array::new(value).to_vec()
}

/// One node's database (`tabcoin-<node id>`).
pub struct IdbStore {
    db: IdbDatabase,
}

impl IdbStore {
    /// Opens the database `name`, creating or upgrading its schema.
    pub async fn open(name: &str) -> Result<IdbStore, StoreError> {
        let request: IdbOpenDbRequest = factory()?.open_with_u32(name, SCHEMA_VERSION).map_err(failed)?;
        let upgrading = request.clone();
        let on_upgrade =
            Closure::<dyn FnMut(web_sys::IdbVersionChangeEvent)>::new(move |event: web_sys::IdbVersionChangeEvent| {
                let old = event.old_version() as u32;
                if let Ok(db) = upgrading.result().and_then(|r| r.dyn_into::<IdbDatabase>())
                    && upgrade(&db, old).is_err()
                    && let Some(transaction) = upgrading.transaction()
                {
                    // A failed upgrade leaves the old version: the open then fails.
                    let _ = transaction.abort();
                }
            });
        request.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
        let blocked = std::rc::Rc::new(std::cell::Cell::new(false));
        let on_blocked = {
            let blocked = std::rc::Rc::clone(&blocked);
            Closure::<dyn FnMut()>::new(move || blocked.set(true))
        };
        request.set_onblocked(Some(on_blocked.as_ref().unchecked_ref()));
        let opened = finished(&request).await;
        request.set_onupgradeneeded(None);
        request.set_onblocked(None);
        drop((on_upgrade, on_blocked));
        let db = match opened {
            Ok(db) => db.dyn_into::<IdbDatabase>().map_err(failed)?,
            Err(_) if blocked.get() => return Err(StoreError::Blocked),
            Err(error) => return Err(error),
        };
        // A newer tab wants to upgrade: let it, by closing ours.
        let closing = db.clone();
        let on_version_change = Closure::once_into_js(move || closing.close());
        db.set_onversionchange(Some(on_version_change.unchecked_ref()));
        Ok(IdbStore { db })
    }

    /// Deletes the database `name` (starting over on another chain).
    pub async fn delete(name: &str) -> Result<(), StoreError> {
        let request = factory()?.delete_database(name).map_err(failed)?;
        finished(&request).await.map(|_| ())
    }

    pub fn close(&self) {
        self.db.close();
    }

    /// Every table, read in one transaction (to restore the chain state from).
    pub async fn load(&self) -> Result<MemoryStore, StoreError> {
        let names = table_names();
        let transaction = self.db.transaction_with_str_sequence(&names).map_err(failed)?;
        // Every request goes out before the first await: a transaction with nothing pending
        // at the end of a task commits.
        let mut requests = Vec::new();
        for table in Table::ALL {
            let store = transaction.object_store(table.name()).map_err(failed)?;
            requests.push((table, store.get_all_keys().map_err(failed)?, store.get_all().map_err(failed)?));
        }
        let mut memory = MemoryStore::new();
        for (table, keys, values) in requests {
            let keys: Array = finished(&keys).await?.dyn_into().map_err(failed)?;
            let values: Array = finished(&values).await?.dyn_into().map_err(failed)?;
            if keys.length() != values.length() {
                return Err(StoreError::Corrupt("keys and values differ in number"));
            }
            for (key, value) in keys.iter().zip(values.iter()) {
                memory.insert(table, bytes(&key), bytes(&value));
            }
        }
        Ok(memory)
    }

    /// Writes `batches` in order in one transaction: all of them, or (on any failure) none.
    pub async fn commit(&self, batches: &[WriteBatch]) -> Result<(), StoreError> {
        self.commit_aborting_after(batches, None).await
    }

    /// [`Self::commit`], aborting after `abort_after` operations if given: how the tests prove
    /// that a failed batch leaves nothing behind.
    async fn commit_aborting_after(
        &self,
        batches: &[WriteBatch],
        abort_after: Option<usize>,
    ) -> Result<(), StoreError> {
        let transaction = self.durable_transaction(&table_names())?;
        let done = committed(&transaction);
        let mut stores: Vec<(Table, IdbObjectStore)> = Vec::with_capacity(Table::ALL.len());
        for table in Table::ALL {
            stores.push((table, transaction.object_store(table.name()).map_err(failed)?));
        }
        let mut count = 0;
        let queued = (|| {
            for op in final_writes(batches) {
                if abort_after == Some(count) {
                    return Err(JsValue::from_str("aborted on purpose"));
                }
                let Some((_, store)) = stores.iter().find(|(t, _)| *t == op.table) else { continue };
                let key = Uint8Array::from(op.key.as_slice());
                match &op.value {
                    Some(value) => store.put_with_key(&Uint8Array::from(value.as_slice()), &key)?,
                    None => store.delete(&key)?,
                };
                count += 1;
            }
            Ok(())
        })();
        if let Err(error) = queued {
            let _ = transaction.abort();
            let _ = done.await;
            return Err(failed(error));
        }
        done.await.map(|_| ()).map_err(failed)
    }

    /// The wallet's stored key set, if any.
    pub async fn wallet(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let transaction = self.db.transaction_with_str(WALLET_STORE).map_err(failed)?;
        let request = transaction.object_store(WALLET_STORE).map_err(failed)?.get(&"keys".into()).map_err(failed)?;
        let value = finished(&request).await?;
        Ok((!value.is_undefined()).then(|| bytes(&value)))
    }

    /// A `readwrite` transaction over `names` that completes only once it is on disk.
    fn durable_transaction(&self, names: &Array) -> Result<IdbTransaction, StoreError> {
        let options = Object::new();
        Reflect::set(&options, &"durability".into(), &"strict".into()).map_err(failed)?;
        self.db
            .unchecked_ref::<DurableDatabase>()
            .transaction_with_options(names, "readwrite", &options)
            .map_err(failed)
    }

    /// Empties the chain's tables, keeping the wallet: starting the chain over when the
    /// network's consensus rules changed (keys stay valid on any chain).
    pub async fn clear_chain(&self) -> Result<(), StoreError> {
        let transaction = self.durable_transaction(&table_names())?;
        let done = committed(&transaction);
        for table in Table::ALL {
            transaction.object_store(table.name()).and_then(|store| store.clear()).map_err(failed)?;
        }
        done.await.map(|_| ()).map_err(failed)
    }

    /// Replaces the wallet's stored key set.
    pub async fn set_wallet(&self, encoded: &[u8]) -> Result<(), StoreError> {
        let names: Array = [JsValue::from_str(WALLET_STORE)].into_iter().collect();
        let transaction = self.durable_transaction(&names)?;
        let done = committed(&transaction);
        let store = transaction.object_store(WALLET_STORE).map_err(failed)?;
        store.put_with_key(&Uint8Array::from(encoded), &"keys".into()).map_err(failed)?;
        done.await.map(|_| ()).map_err(failed)
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use tabcoin_core::template::{TemplateSpec, build_template, create_genesis};
    use tabcoin_core::{Address, Amount, ChainParams, ChainState, SecretKey};
    use wasm_bindgen_test::*;

    wasm_bindgen_test_configure!(run_in_browser);

    fn fresh_name() -> String {
        format!("tabcoin-test-{}", (js_sys::Math::random() * 1e15) as u64)
    }

    /// A chain of `blocks` blocks after genesis, as the batches that stored it.
    fn chain_batches(blocks: u32) -> (ChainState, Vec<WriteBatch>) {
        let params = ChainParams::test();
        let owner = Address::new(params.address_version, SecretKey::from_entropy([3; 32]).public_key().pubkey_hash());
        let genesis = create_genesis(&params, &owner, 1_700_000_000).unwrap();
        let (mut chain, batch) = ChainState::new(params, genesis).unwrap();
        let mut batches = vec![batch];
        for i in 1..=u64::from(blocks) {
            let now = 1_700_000_000 + 5 * i;
            let spec = TemplateSpec {
                parent: chain.tip(),
                payee: owner.pubkey_hash,
                now,
                txs: vec![],
                fees: Amount::ZERO,
                message: vec![],
            };
            let block = build_template(&chain, spec).unwrap().mine().unwrap();
            batches.push(chain.accept_block(block, now).unwrap().batch);
        }
        (chain, batches)
    }

    fn applied(batches: &[WriteBatch]) -> MemoryStore {
        let mut memory = MemoryStore::new();
        for batch in batches {
            memory.apply(batch);
        }
        memory
    }

    #[wasm_bindgen_test]
    async fn the_schema_has_every_table_and_the_wallet() {
        let name = fresh_name();
        let store = IdbStore::open(&name).await.unwrap();
        assert_eq!(store.db.version() as u32, SCHEMA_VERSION);
        let names = store.db.object_store_names();
        for table in Table::ALL {
            assert!(names.contains(table.name()), "{}", table.name());
        }
        assert!(names.contains(WALLET_STORE));
        store.close();
        IdbStore::delete(&name).await.unwrap();
    }

    #[wasm_bindgen_test]
    async fn batches_survive_closing_and_reopening_and_restore_the_chain() {
        let name = fresh_name();
        let (chain, batches) = chain_batches(5);
        let store = IdbStore::open(&name).await.unwrap();
        store.commit(&batches[..2]).await.unwrap();
        store.commit(&batches[2..]).await.unwrap();
        store.close();

        let reopened = IdbStore::open(&name).await.unwrap();
        let loaded = reopened.load().await.unwrap();
        assert_eq!(loaded, applied(&batches));
        let restored = ChainState::load(ChainParams::test(), &loaded).unwrap();
        assert_eq!((restored.tip(), restored.height()), (chain.tip(), 5));
        reopened.close();
        IdbStore::delete(&name).await.unwrap();
    }

    #[wasm_bindgen_test]
    async fn a_failed_commit_leaves_nothing_behind() {
        let name = fresh_name();
        let (_, batches) = chain_batches(3);
        let store = IdbStore::open(&name).await.unwrap();
        store.commit(&batches[..1]).await.unwrap();
        let later = &batches[1..];
        // Writes to distinct keys: only the last write to a key is made.
        let writes: std::collections::HashSet<(Table, &[u8])> =
            later.iter().flat_map(|b| &b.ops).map(|op| (op.table, op.key.as_slice())).collect();
        let result = store.commit_aborting_after(later, Some(writes.len() - 1)).await;
        assert!(matches!(result, Err(StoreError::Failed(_))), "{result:?}");
        assert_eq!(store.load().await.unwrap(), applied(&batches[..1]), "only the first commit is there");
        store.close();
        IdbStore::delete(&name).await.unwrap();
    }

    /// Skipping the writes a later one in the same commit replaces changes nothing.
    #[wasm_bindgen_test]
    async fn only_the_last_write_to_a_key_in_a_commit_counts() {
        let name = fresh_name();
        let mut first = WriteBatch::default();
        first.put(Table::Utxo, vec![1], vec![10]);
        first.put(Table::Utxo, vec![2], vec![20]);
        first.put(Table::Meta, b"tip".to_vec(), vec![1]);
        let mut second = WriteBatch::default();
        second.delete(Table::Utxo, vec![1]);
        second.put(Table::Utxo, vec![3], vec![30]);
        second.put(Table::Meta, b"tip".to_vec(), vec![2]);
        let mut third = WriteBatch::default();
        third.put(Table::Utxo, vec![1], vec![11]);
        third.delete(Table::Utxo, vec![3]);
        third.delete(Table::Utxo, vec![4]);
        third.put(Table::Meta, b"tip".to_vec(), vec![3]);
        let batches = [first, second, third];
        let store = IdbStore::open(&name).await.unwrap();
        store.commit(&batches).await.unwrap();
        let loaded = store.load().await.unwrap();
        assert_eq!(loaded, applied(&batches));
        assert_eq!(loaded.get(Table::Utxo, &[1]), Some(&[11u8][..]));
        assert_eq!(loaded.get(Table::Utxo, &[3]), None);
        assert_eq!(loaded.get(Table::Meta, b"tip"), Some(&[3u8][..]));
        store.close();
        IdbStore::delete(&name).await.unwrap();
    }

    #[wasm_bindgen_test]
    async fn the_wallet_is_kept_apart_from_the_chain() {
        let name = fresh_name();
        let store = IdbStore::open(&name).await.unwrap();
        assert_eq!(store.wallet().await.unwrap(), None);
        store.set_wallet(&[1, 2, 3]).await.unwrap();
        store.set_wallet(&[4, 5]).await.unwrap();
        assert_eq!(store.wallet().await.unwrap(), Some(vec![4, 5]));
        assert!(store.load().await.unwrap().is_empty(), "no chain table holds it");
        store.close();
        IdbStore::delete(&name).await.unwrap();
    }

    #[wasm_bindgen_test]
    async fn clearing_the_chain_keeps_the_wallet() {
        let name = fresh_name();
        let store = IdbStore::open(&name).await.unwrap();
        let (_, batches) = chain_batches(2);
        store.commit(&batches).await.unwrap();
        store.set_wallet(&[7, 8]).await.unwrap();
        assert!(!store.load().await.unwrap().is_empty());
        store.clear_chain().await.unwrap();
        assert!(store.load().await.unwrap().is_empty(), "the chain's tables are empty");
        assert_eq!(store.wallet().await.unwrap(), Some(vec![7, 8]));
        store.close();
        IdbStore::delete(&name).await.unwrap();
    }
}
