//! The CLI's way into a running node: one JSON line in, one JSON line out, over TCP on
//! 127.0.0.1 only, authenticated by a secret in a cookie file in the data directory (as
//! bitcoind does). The file also names the port; it is removed when the node stops.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use crate::runtime::Input;
use crate::verbs::Verb;

/// A request line is small; this bounds what an unauthenticated local process can make us read.
const MAX_REQUEST_BYTES: u64 = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// `send --mine` waits for its block: seconds on the main network.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Serialize, Deserialize)]
struct Request {
    cookie: String,
    passphrase: Option<String>,
    verb: Verb,
}

#[derive(Serialize, Deserialize)]
enum Reply {
    Ok(String),
    Err(String),
}

pub fn cookie_path(datadir: &Path) -> PathBuf {
    datadir.join(".cookie")
}

/// Why the CLI could not use the RPC.
pub enum RpcError {
    /// No node is running (no cookie, or nothing listening): use the store directly.
    NotRunning,
    /// A node is running, but the exchange failed.
    Failed(String),
}

/// Listens on 127.0.0.1 and writes the cookie. Returns the cookie's path, to remove on stop.
pub async fn serve(datadir: &Path, inputs: mpsc::Sender<Input>) -> std::io::Result<PathBuf> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let port = listener.local_addr()?.port();
    let secret = crate::wallet_file::random_bytes::<32>()
        .map(|b| tabcoin_core::hash::to_hex(&b))
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let path = cookie_path(datadir);
    write_private(&path, format!("{port}\n{secret}\n").as_bytes())?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let inputs = inputs.clone();
            let secret = secret.clone();
            tokio::spawn(async move {
                if let Err(e) = answer(stream, &secret, inputs).await {
                    tracing::debug!("RPC connection ended: {e}");
                }
            });
        }
    });
    Ok(path)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

async fn answer(stream: TcpStream, secret: &str, inputs: mpsc::Sender<Input>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    // A silent connection is not held: its request line comes within the deadline or never.
    tokio::time::timeout(
        crate::guard::FIRST_REQUEST_TIMEOUT,
        BufReader::new(read.take(MAX_REQUEST_BYTES)).read_line(&mut line),
    )
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no request within the deadline"))??;
    let reply = match serde_json::from_str::<Request>(&line) {
        Err(e) => Reply::Err(format!("bad RPC request: {e}")),
        Ok(request) if !constant_time_eq(request.cookie.as_bytes(), secret.as_bytes()) => {
            Reply::Err("RPC authentication failed: the cookie does not match".to_string())
        }
        Ok(request) => {
            tracing::info!(verb = ?request.verb, "RPC");
            let (reply, answer) = oneshot::channel();
            let input = Input::Verb { verb: request.verb, passphrase: request.passphrase, reply };
            if inputs.send(input).await.is_err() {
                Reply::Err("the node is shutting down".to_string())
            } else {
                match tokio::time::timeout(ANSWER_TIMEOUT, answer).await {
                    Ok(Ok(Ok(text))) => Reply::Ok(text),
                    Ok(Ok(Err(text))) => Reply::Err(text),
                    Ok(Err(_)) => Reply::Err("the node dropped the request".to_string()),
                    Err(_) => Reply::Err("the node did not answer in time".to_string()),
                }
            }
        }
    };
    let mut bytes = serde_json::to_vec(&reply).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    write.write_all(&bytes).await?;
    write.shutdown().await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Asks the node running on `datadir` to carry out `verb`.
pub async fn call(datadir: &Path, verb: &Verb, passphrase: Option<String>) -> Result<String, RpcError> {
    let Ok(cookie) = std::fs::read_to_string(cookie_path(datadir)) else { return Err(RpcError::NotRunning) };
    let mut lines = cookie.lines();
    let (Some(Ok(port)), Some(secret)) = (lines.next().map(str::parse::<u16>), lines.next()) else {
        return Err(RpcError::Failed("the RPC cookie file is damaged".to_string()));
    };
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(("127.0.0.1", port))).await {
        Ok(Ok(stream)) => stream,
        // A cookie left by a node that was killed: nobody listens.
        _ => return Err(RpcError::NotRunning),
    };
    let request = Request { cookie: secret.to_string(), passphrase, verb: verb.clone() };
    let exchange = async {
        let (read, mut write) = stream.into_split();
        let mut bytes = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
        bytes.push(b'\n');
        write.write_all(&bytes).await.map_err(|e| e.to_string())?;
        let mut line = String::new();
        BufReader::new(read).read_line(&mut line).await.map_err(|e| e.to_string())?;
        serde_json::from_str::<Reply>(&line).map_err(|e| format!("bad RPC reply: {e}"))
    };
    match tokio::time::timeout(ANSWER_TIMEOUT, exchange).await {
        Ok(Ok(Reply::Ok(text))) => Ok(text),
        Ok(Ok(Reply::Err(text))) => Err(RpcError::Failed(text)),
        Ok(Err(e)) => Err(RpcError::Failed(format!("RPC failed: {e}"))),
        Err(_) => Err(RpcError::Failed("the node did not answer in time".to_string())),
    }
}
