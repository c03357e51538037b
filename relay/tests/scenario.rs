//! The seed's scenario through the real relay binary: the relay creates the chain and pays
//! with `send --mine` from its CLI; a native wallet node and a native miner node connect over
//! WebSockets, pay and mine; every node ends with the same exact balances, and the relay keeps
//! them across a clean restart and a SIGKILL.

mod common;

use common::*;
use tabcoin_core::node::MiningPolicy;
use tabcoin_core::protocol::Role;
use tabcoin_relay::verbs::Verb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_scenario_through_the_relay_binary() {
    let relay_dir = TempDir::new("relay");
    let wallet_dir = TempDir::new("wallet");
    let miner_dir = TempDir::new("miner");
    let relay = Relay::start(relay_dir.path(), &[]);
    let central = relay.genesis_payee.clone().expect("the first start prints the genesis payee");
    let (ok, listed, _) = relay.cli(&["listaddresses"]);
    assert!(ok && listed.contains(&central), "CENTRAL is the relay's own address: {listed}");

    // The wallet node syncs and creates WALLET_1..4.
    let wallet = native_node(wallet_dir.path(), Role::Wallet, &relay.ws_url(), None);
    wait_until(30, "the wallet to adopt the relay's chain", || async { height(&wallet).await == Some(0) }).await;
    let mut wallets = Vec::new();
    for _ in 0..4 {
        wallets.push(new_address(&wallet).await);
    }

    // CENTRAL pays 10 to WALLET_1 and 10 to WALLET_2, each mined at once by the relay.
    for to in &wallets[..2] {
        let (ok, out, err) = relay.cli(&["send", "--from", &central, "--to", to, "--amount", "10", "--mine"]);
        assert!(ok, "send --mine failed: {err}");
        assert!(out.starts_with("Success!"), "{out}");
    }
    let (_, out, _) = relay.cli(&["getbalance", "--address", &central]);
    assert_eq!(balance_from_text(&out), "10", "each coinbase paid CENTRAL back");

    // The miner node mines to MINER once two transactions wait.
    let miner_address = {
        std::fs::create_dir_all(miner_dir.path()).unwrap();
        let (ok, out, err) = cli(miner_dir.path(), &["createwallet"]);
        assert!(ok, "{err}");
        out.rsplit(' ').next().unwrap().to_string()
    };
    let miner = native_node(
        miner_dir.path(),
        Role::Miner,
        &relay.ws_url(),
        Some((miner_address.clone(), MiningPolicy::WhenMempoolHolds(2))),
    );
    wait_until(30, "the wallet and the miner to reach height 2", || async {
        height(&wallet).await == Some(2) && height(&miner).await == Some(2)
    })
    .await;

    // The wallet pays WALLET_1 -> WALLET_3 and WALLET_2 -> WALLET_4, 1 each, fee 0.
    for (from, to) in [(&wallets[0], &wallets[2]), (&wallets[1], &wallets[3])] {
        let sent = wallet
            .verb(Verb::Send { from: from.clone(), to: to.clone(), amount: "1".into(), fee: "0".into(), mine: false })
            .await;
        assert!(sent.is_ok(), "{sent:?}");
    }
    wait_until(30, "the miner's block to reach everyone", || async {
        let (_, tip_json) = relay.api("/api/tip");
        tip_json["height"] == 3 && height(&wallet).await == Some(3) && height(&miner).await == Some(3)
    })
    .await;

    let expected = [
        (&wallets[0], "9"),
        (&wallets[1], "9"),
        (&wallets[2], "1"),
        (&wallets[3], "1"),
        (&miner_address, "10"),
        (&central, "10"),
    ];
    for (address, amount) in expected {
        assert_eq!(balance(&wallet, address).await, amount, "wallet node, {address}");
        assert_eq!(balance(&miner, address).await, amount, "miner node, {address}");
        let (_, out, _) = relay.cli(&["getbalance", "--address", address]);
        assert_eq!(balance_from_text(&out), amount, "relay CLI, {address}");
        let (status, json) = relay.api(&format!("/api/address/{address}"));
        assert_eq!((status, json["confirmed"].as_str()), (200, Some(amount)), "relay API, {address}");
    }
    let relay_tip = relay.api("/api/tip").1["hash"].as_str().unwrap().to_string();
    assert_eq!(tip(&wallet).await.as_deref(), Some(relay_tip.as_str()));
    assert_eq!(tip(&miner).await.as_deref(), Some(relay_tip.as_str()));

    // A clean restart, then a SIGKILL and restart: the relay keeps every balance, and its
    // stored UTXO set equals the one rebuilt from its blocks.
    let port = relay.port();
    relay.stop();
    let relay = Relay::start_on(relay_dir.path(), port, &[]);
    assert_eq!(relay.api("/api/tip").1["hash"].as_str(), Some(relay_tip.as_str()));
    relay.kill();
    let (ok, out, err) = cli(relay_dir.path(), &["reindexutxo"]);
    assert!(ok, "{err}");
    assert!(out.contains("equals"), "{out}");
    let relay = Relay::start_on(relay_dir.path(), port, &[]);
    for (address, amount) in expected {
        let (_, out, _) = relay.cli(&["getbalance", "--address", address]);
        assert_eq!(balance_from_text(&out), amount, "relay after SIGKILL, {address}");
    }
    // The native nodes reconnect by themselves and stay in step.
    wait_until(30, "the wallet to reconnect", || async {
        let (_, peers) = relay.api("/api/peers");
        peers["peers"].as_array().is_some_and(|p| p.len() == 2)
    })
    .await;
    wallet.stop().await.unwrap();
    miner.stop().await.unwrap();
}
