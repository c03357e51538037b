//! What a connection may hold before it proves anything: silent connections are closed after
//! the first-byte deadline (HTTP, the RPC), and one address holding its cap of connections
//! neither gets more nor keeps the API or an honest peer from another address out.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;

/// Reads until the other side closes; how long that took (`None`: still open after `limit`).
fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut buf = [0u8; 1024];
    while start.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

#[test]
fn silent_connections_are_closed_after_the_first_byte_deadline() {
    let dir = TempDir::new("silent");
    let relay = Relay::start(dir.path(), &[]);
    let address: SocketAddr = format!("127.0.0.1:{}", relay.port()).parse().unwrap();
    // Never a byte; one byte; an HTTP/2 preface (the relay speaks HTTP/1.1 only).
    let mut silent = TcpStream::connect(address).unwrap();
    let mut one_byte = TcpStream::connect(address).unwrap();
    one_byte.write_all(b"G").unwrap();
    let mut preface = TcpStream::connect(address).unwrap();
    preface.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    // The RPC's listener, from the cookie file: port on the first line.
    let cookie = std::fs::read_to_string(dir.path().join(".cookie")).unwrap();
    let rpc_port: u16 = cookie.lines().next().unwrap().parse().unwrap();
    let mut rpc_silent = TcpStream::connect(("127.0.0.1", rpc_port)).unwrap();

    for (what, stream) in [
        ("silent", &mut silent),
        ("one byte", &mut one_byte),
        ("HTTP/2 preface", &mut preface),
        ("RPC", &mut rpc_silent),
    ] {
        let closed = closed_within(stream, Duration::from_secs(25));
        assert!(closed.is_some_and(|t| t <= Duration::from_secs(22)), "{what}: {closed:?}");
    }
    // Meanwhile the relay served as ever.
    assert_eq!(relay.api("/api/tip").0, 200);
}

/// Connects from `source` (any 127/8 address is this machine) to `port`.
async fn connect_from(source: &str, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(format!("{source}:0").parse().unwrap())?;
    socket.connect(format!("127.0.0.1:{port}").parse().unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_at_its_cap_keeps_no_one_else_out() {
    let dir = TempDir::new("caps");
    let relay = Relay::start(dir.path(), &["--max-connections-per-address", "20"]);
    let port = relay.port();
    // One address holds its 20 idle connections; its next ones are closed at once.
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(connect_from("127.0.0.2", port).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        let mut extra = connect_from("127.0.0.2", port).await.unwrap();
        let mut buf = [0u8; 16];
        let read =
            tokio::time::timeout(Duration::from_secs(3), tokio::io::AsyncReadExt::read(&mut extra, &mut buf)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "a connection over the cap was kept: {read:?}");
    }
    // Another address: the API answers and an honest node syncs.
    let started = Instant::now();
    assert_eq!(relay.api("/api/tip").0, 200);
    assert!(started.elapsed() < Duration::from_secs(5));
    let wallet_dir = TempDir::new("caps-wallet");
    let wallet = native_node(wallet_dir.path(), tabcoin_core::protocol::Role::Wallet, &relay.ws_url(), None);
    wait_until(30, "the honest wallet to adopt the relay's chain", || async { height(&wallet).await == Some(0) }).await;
    wallet.stop().await.unwrap();
    assert!(read_log(dir.path()).contains("refused"), "the refusals are logged");
    drop(held);
}
