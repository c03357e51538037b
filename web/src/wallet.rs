//! The tab's wallet: its keys (kept in the node's database, apart from the chain), balances and
//! history of any address, and payments from one of its addresses with the change back to it.

use std::fmt;

use tabcoin_core::query::{self, Balance, HistoryItem};
use tabcoin_core::sigcheck::SignedMessage;
use tabcoin_core::wallet::{KeySet, KeySetFull, PaymentError, PaymentInputError, PaymentRequest, plan_as_typed};
use tabcoin_core::wallet_file::WalletFile;
use tabcoin_core::{Address, AddressError, Encoding, MempoolError, SecretKey, Txid};

use crate::ecdsa::{self, EcdsaError};
use crate::node::{TabNode, now_ms};
use crate::store::StoreError;
use crate::vault::{self, VaultError};

/// Why a wallet action failed, in words for the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WalletError {
    /// The node has not adopted a chain yet.
    NoChain,
    BadAddress {
        input: String,
        error: AddressError,
    },
    BadInput(PaymentInputError),
    Payment(PaymentError),
    /// The node's own mempool refused the payment.
    Refused(MempoolError),
    Full(KeySetFull),
    Store(StoreError),
    Vault(VaultError),
    NoRandomness(String),
    /// The browser could not work out a key's public half or sign with it.
    Keys(EcdsaError),
    /// Another payment is being sent.
    Busy,
}

impl fmt::Display for WalletError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalletError::NoChain => f.write_str("not synced yet: waiting for the relay's chain"),
            WalletError::BadAddress { input, error } => write!(f, "{input:?} is not a valid address: {error}"),
            WalletError::BadInput(e) => e.fmt(f),
            WalletError::Payment(e) => e.fmt(f),
            WalletError::Refused(e) => write!(f, "the payment was refused: {e}"),
            WalletError::Full(e) => e.fmt(f),
            WalletError::Store(e) => e.fmt(f),
            WalletError::Vault(e) => e.fmt(f),
            WalletError::NoRandomness(e) => write!(f, "the browser gave no randomness: {e}"),
            WalletError::Keys(e) => e.fmt(f),
            WalletError::Busy => f.write_str("another payment is being sent: try again once it is"),
        }
    }
}

impl std::error::Error for WalletError {}

impl TabNode {
    /// The wallet's addresses, oldest first.
    pub fn addresses(&self) -> Vec<Address> {
        let inner = self.inner.borrow();
        inner.keys.addresses(inner.node.params())
    }

    /// A new key from the browser's randomness; its address once the key is stored.
    pub async fn create_address(&self) -> Result<Address, WalletError> {
        let mut entropy = [0u8; 32];
        getrandom::fill(&mut entropy).map_err(|e| WalletError::NoRandomness(e.to_string()))?;
        self.add_key(SecretKey::from_entropy(entropy)).await
    }

    /// Adds an existing key (an import); its address once the key is stored.
    pub async fn import_key(&self, key: SecretKey) -> Result<Address, WalletError> {
        self.add_key(key).await
    }

    async fn add_key(&self, key: SecretKey) -> Result<Address, WalletError> {
        let public = ecdsa::public_key(&key).await.map_err(WalletError::Keys)?;
        let address = {
            let mut inner = self.inner.borrow_mut();
            let params = inner.node.params().clone();
            inner.keys.insert_pair(key, public, &params).map_err(WalletError::Full)?
        };
        self.save_keys().await?;
        Ok(address)
    }

    /// The keys as a wallet file: sealed under the passphrase if one is set. The relay's CLI
    /// reads the same files (`wallet.dat`).
    pub async fn export_keys(&self) -> Result<Vec<u8>, WalletError> {
        let (plain, passphrase) = {
            let inner = self.inner.borrow();
            (inner.keys.to_bytes(), inner.passphrase.clone())
        };
        match passphrase {
            Some(passphrase) => vault::seal(&plain, &passphrase).await.map_err(WalletError::Vault),
            None => Ok(WalletFile::Plain(plain).to_bytes()),
        }
    }

    /// Adds the keys of a wallet file (from another tab or the relay); returns their addresses.
    pub async fn import_keys(&self, file: &[u8], passphrase: Option<&str>) -> Result<Vec<Address>, WalletError> {
        let plain = vault::unseal(file, passphrase).await.map_err(WalletError::Vault)?;
        let imported = match read_key_set(&plain).await {
            Ok(keys) => keys,
            Err(Some(error)) => return Err(WalletError::Keys(error)),
            Err(None) => return Err(WalletError::Vault(VaultError::WrongPassphrase)),
        };
        let addresses = {
            let mut inner = self.inner.borrow_mut();
            let params = inner.node.params().clone();
            inner.keys.merge(&imported, &params).map_err(WalletError::Full)?
        };
        self.save_keys().await?;
        Ok(addresses)
    }

    /// Seals the stored keys under `passphrase` from now on, or stores them in the clear (`None`).
    pub async fn set_passphrase(&self, passphrase: Option<&str>) -> Result<(), WalletError> {
        self.inner.borrow_mut().passphrase = passphrase.map(str::to_string);
        self.save_keys().await
    }

    async fn save_keys(&self) -> Result<(), WalletError> {
        let file = self.export_keys().await?;
        let store = std::rc::Rc::clone(&self.inner.borrow().store);
        store.set_wallet(&file).await.map_err(WalletError::Store)
    }

    pub(crate) fn parse_address(&self, input: &str) -> Result<Address, WalletError> {
        let version = self.inner.borrow().node.params().address_version;
        Address::parse(input.trim(), version)
            .map_err(|error| WalletError::BadAddress { input: input.to_string(), error })
    }

    /// Any address's balance: confirmed, and with the mempool.
    pub fn balance(&self, address: &str) -> Result<Balance, WalletError> {
        let owner = self.parse_address(address)?.pubkey_hash;
        let inner = self.inner.borrow();
        let chain = inner.node.chain().ok_or(WalletError::NoChain)?;
        Ok(query::balance(chain, inner.node.mempool(), &owner))
    }

    /// Any address's transactions, newest first.
    pub fn history(&self, address: &str) -> Result<Vec<HistoryItem>, WalletError> {
        let owner = self.parse_address(address)?.pubkey_hash;
        let inner = self.inner.borrow();
        let chain = inner.node.chain().ok_or(WalletError::NoChain)?;
        Ok(query::history(chain, inner.node.mempool(), &owner))
    }

    /// Pays `amount` (coins, as typed) from one of the wallet's addresses to `to`, with the
    /// change back to `from`; the node announces it and re-announces it until it confirms.
    /// Its signatures are checked by the browser (WebCrypto) before it enters the mempool. One
    /// payment at a time: another would pick the same coins while this one's are checked.
    pub async fn send(&self, from: &str, to: &str, amount: &str, fee: &str) -> Result<Txid, WalletError> {
        let _sending = Sending::start(&self.inner)?;
        let plan = {
            let inner = self.inner.borrow();
            let params = inner.node.params().clone();
            let request = PaymentRequest::parse(&params, from, to, amount, fee).map_err(WalletError::BadInput)?;
            let chain = inner.node.chain().ok_or(WalletError::NoChain)?;
            let coins = inner.node.mempool().spendable_coins(chain, &request.from.pubkey_hash);
            plan_as_typed(&inner.keys, &params, &coins, &request, fee).map_err(WalletError::Payment)?
        };
        let messages: Vec<Vec<u8>> = plan.messages().iter().map(SignedMessage::to_bytes).collect();
        let signatures = ecdsa::sign(plan.key(), &messages).await.map_err(WalletError::Keys)?;
        let tx = plan.with_signatures(&signatures).map_err(WalletError::Payment)?;
        let checks = self.inner.borrow().node.payment_checks(&tx).map_err(WalletError::Refused)?;
        let results = crate::sigcheck::check_here(&checks.jobs).await.ok_or_else(|| {
            WalletError::Keys(EcdsaError(
                "the payment's signatures could not be checked: core's P-256 module did not load".into(),
            ))
        })?;
        let txid = {
            let mut inner = self.inner.borrow_mut();
            inner.node.submit_checked(tx, &checks.verified(&results), now_ms()).map_err(WalletError::Refused)?
        };
        self.pump();
        Ok(txid)
    }
}

/// A key set from its encoding: keys stored before public keys were kept (version 1) get
/// theirs from the browser. `Err(None)`: the bytes are not a key set.
pub(crate) async fn read_key_set(bytes: &[u8]) -> Result<KeySet, Option<EcdsaError>> {
    if KeySet::encoding_holds_public_keys(bytes) {
        return KeySet::from_bytes(bytes).map_err(|_| None);
    }
    let secrets = KeySet::secret_keys_from_bytes(bytes).map_err(|_| None)?;
    let mut keys = KeySet::new();
    for secret in secrets {
        let public = ecdsa::public_key(&secret).await.map_err(Some)?;
        keys.add_pair(secret, public).map_err(|_| None)?;
    }
    Ok(keys)
}

/// A payment being sent; dropped when it is done, whatever the outcome.
struct Sending<'a>(&'a std::cell::RefCell<crate::node::Inner>);

impl<'a> Sending<'a> {
    fn start(inner: &'a std::cell::RefCell<crate::node::Inner>) -> Result<Sending<'a>, WalletError> {
        let mut state = inner.borrow_mut();
        if state.sending {
            return Err(WalletError::Busy);
        }
        state.sending = true;
        Ok(Sending(inner))
    }
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        if let Ok(mut state) = self.0.try_borrow_mut() {
            state.sending = false;
        }
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use tabcoin_core::params::ChainParams;
    use tabcoin_core::protocol::Role;
    use wasm_bindgen_test::*;

    use crate::node::tests::{RELAY, relay_height, sleep, wait_for};

    wasm_bindgen_test_configure!(run_in_browser);

    /// scripts/test.sh pays 3 coins to this key's address before the tests start.
    const FUNDED_ADDRESS: &str = "mgjnwdJGrp3eoyZ9QP2k68tUPgSek3Tw8X";

    #[wasm_bindgen_test]
    async fn a_tab_wallet_is_paid_pays_and_keeps_its_keys() {
        let url = RELAY.expect("this test needs the relay scripts/test.sh starts");
        let id = format!("test-wallet-{}", (js_sys::Math::random() * 1e15) as u64);
        let node = TabNode::start(&id, url, ChainParams::test(), Role::Wallet, None).await.unwrap();
        let funded = node.import_key(SecretKey::from_entropy([42; 32])).await.unwrap();
        assert_eq!(funded.to_string(), FUNDED_ADDRESS);
        let a = FUNDED_ADDRESS;
        wait_for("the sync", || node.height().is_some_and(|h| h >= relay_height())).await;
        assert_eq!(node.balance(a).unwrap().confirmed.to_string(), "3");

        let b = node.create_address().await.unwrap().to_string();
        // Wrong input is refused with the reason, and nothing is sent.
        assert!(matches!(
            node.send(a, "not-an-address", "1", "0").await,
            Err(WalletError::BadInput(PaymentInputError::BadAddress { field: "to", .. }))
        ));
        assert!(matches!(
            node.send(a, &b, "5", "0").await,
            Err(WalletError::Payment(PaymentError::InsufficientFunds { .. }))
        ));
        assert!(matches!(
            node.send(&b, a, "1", "0").await,
            Err(WalletError::Payment(PaymentError::InsufficientFunds { .. }))
        ));
        assert!(node.with_node(|n| n.mempool().is_empty()));

        // One payment at a time: one started meanwhile is refused, not built on the same coins.
        let racing = {
            let (node, from, to) = (node.clone(), a.to_string(), b.clone());
            wasm_bindgen_futures::JsFuture::from(wasm_bindgen_futures::future_to_promise(async move {
                match node.send(&from, &to, "1", "0").await {
                    Ok(txid) => Ok(txid.to_string().into()),
                    Err(error) => Err(error.to_string().into()),
                }
            }))
        };
        node.send(a, &b, "1", "0").await.unwrap();
        let refused = racing.await.expect_err("the second payment waits its turn");
        assert_eq!(refused.as_string().unwrap(), WalletError::Busy.to_string());
        assert_eq!(node.balance(&b).unwrap().pending.to_string(), "1", "pending at once");
        // The relay mines once a transaction waits; the block comes back to the tab.
        wait_for("the payment to confirm", || node.balance(&b).is_ok_and(|x| x.confirmed.to_string() == "1")).await;
        assert_eq!(node.balance(a).unwrap().confirmed.to_string(), "2");
        let history = node.history(a).unwrap();
        assert_eq!(history.len(), 2, "{history:?}");
        assert_eq!(history[0].sent.to_string(), "3", "the newest spends the 3-coin output");
        assert_eq!(history[0].received.to_string(), "2", "and gets 2 back as change");
        wait_for("the commits", || node.settled()).await;
        node.stop();

        // The Web Lock is let go asynchronously after stop: a reload would take a new page.
        let mut reopened = None;
        for _ in 0..100 {
            match TabNode::start(&id, url, ChainParams::test(), Role::Wallet, None).await {
                Ok(node) => {
                    reopened = Some(node);
                    break;
                }
                Err(crate::node::StartError::InUse) => sleep(20).await,
                Err(other) => panic!("{other}"),
            }
        }
        let reopened = reopened.expect("the node id is free again after stop");
        let addresses: Vec<String> = reopened.addresses().iter().map(ToString::to_string).collect();
        assert_eq!(addresses, vec![a.to_string(), b.clone()], "the keys were kept");
        assert_eq!(reopened.balance(&b).unwrap().confirmed.to_string(), "1", "and the chain");
        reopened.stop();
        crate::store::IdbStore::delete(&crate::node::database_name(&id)).await.unwrap();
    }

    /// Keys stored before public keys were kept get theirs from WebCrypto: the same as core's.
    #[wasm_bindgen_test]
    async fn keys_stored_without_public_keys_get_them_from_the_browser() {
        let params = ChainParams::test();
        let secrets: Vec<SecretKey> = (1..4u8).map(|i| SecretKey::from_entropy([i; 32])).collect();
        let mut old = vec![1u8, secrets.len() as u8];
        let mut expected = KeySet::new();
        for secret in &secrets {
            old.extend_from_slice(&secret.to_bytes());
            expected.insert(secret.clone(), &params).unwrap();
        }
        assert!(!KeySet::encoding_holds_public_keys(&old));
        assert_eq!(read_key_set(&old).await.unwrap(), expected);
        assert_eq!(read_key_set(&expected.to_bytes()).await.unwrap(), expected);
        assert_eq!(read_key_set(&[7, 0]).await, Err(None), "not a key set");
    }

    async fn start_when_free(id: &str, passphrase: Option<&str>) -> Result<TabNode, crate::node::StartError> {
        let url = RELAY.expect("this test needs the relay scripts/test.sh starts");
        for _ in 0..100 {
            match TabNode::start(id, url, ChainParams::test(), Role::Wallet, passphrase).await {
                Err(crate::node::StartError::InUse) => sleep(20).await,
                other => return other,
            }
        }
        panic!("the node id stayed locked");
    }

    #[wasm_bindgen_test]
    async fn keys_under_a_passphrase_need_it_and_move_between_tabs() {
        let id = format!("test-vault-{}", (js_sys::Math::random() * 1e15) as u64);
        let node = start_when_free(&id, Some("pw")).await.unwrap();
        let address = node.create_address().await.unwrap();
        let exported = node.export_keys().await.unwrap();
        node.stop();
        use crate::node::StartError;
        assert!(matches!(start_when_free(&id, None).await, Err(StartError::Wallet(VaultError::NeedsPassphrase))));
        assert!(matches!(
            start_when_free(&id, Some("bad")).await,
            Err(StartError::Wallet(VaultError::WrongPassphrase))
        ));
        let reopened = start_when_free(&id, Some("pw")).await.unwrap();
        assert_eq!(reopened.addresses(), vec![address]);
        reopened.set_passphrase(None).await.unwrap();
        reopened.stop();
        let clear = start_when_free(&id, None).await.unwrap();
        assert_eq!(clear.addresses(), vec![address], "stored in the clear after the passphrase was removed");
        clear.stop();

        let other_id = format!("{id}-other");
        let other = start_when_free(&other_id, None).await.unwrap();
        assert!(matches!(
            other.import_keys(&exported, Some("nope")).await,
            Err(WalletError::Vault(VaultError::WrongPassphrase))
        ));
        assert_eq!(other.import_keys(&exported, Some("pw")).await.unwrap(), vec![address]);
        assert_eq!(other.addresses(), vec![address]);
        other.stop();
        for name in [&id, &other_id] {
            crate::store::IdbStore::delete(&crate::node::database_name(name)).await.unwrap();
        }
    }
}
