//! One port, three things: the page's static files, the WebSocket endpoint for nodes, and the
//! read-only JSON API.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use tabcoin_core::node::Direction;
use tokio::sync::mpsc;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::api;
use crate::peer::{self, MAX_WRITE_BUFFER, MAX_WS_MESSAGE, READ_BUFFER, WRITE_BUFFER};
use crate::runtime::{Input, PeerIds};

/// The page may load its own scripts and wasm (compiling wasm needs 'wasm-unsafe-eval'),
/// start workers from its own files, and talk to this relay; nothing else.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     worker-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

#[derive(Clone)]
pub struct AppState {
    pub inputs: mpsc::Sender<Input>,
    pub ids: Arc<PeerIds>,
}

pub fn router(state: AppState, www: PathBuf) -> Router {
    // The build writes a gzip -9 copy next to the page's wasm and scripts (the wasm is a third of
    // its size gzipped); browsers that accept gzip get that copy.
    let files = ServeDir::new(www).append_index_html_on_directories(true).precompressed_gzip();
    let api = Router::new()
        .route("/network", get(api::network))
        .route("/tip", get(api::tip))
        .route("/blocks", get(api::blocks))
        .route("/block/{hash}", get(api::block))
        .route("/tx/{txid}", get(api::transaction))
        .route("/address/{address}", get(api::address))
        .route("/mempool", get(api::mempool))
        .route("/peers", get(api::peers));
    Router::new()
        .route("/ws", get(websocket))
        .nest("/api", api)
        .fallback_service(files)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .with_state(state)
}

/// Any origin may connect: the endpoint speaks the public peer protocol, which anyone may
/// speak, and nothing behind it acts with a user's authority (the RPC is elsewhere, behind a
/// cookie).
async fn websocket(
    upgrade: WebSocketUpgrade,
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<std::net::SocketAddr>,
) -> Response {
    upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_WS_MESSAGE)
        .max_frame_size(MAX_WS_MESSAGE)
        .on_upgrade(move |socket| async move {
            peer::run_connection(socket, Direction::Inbound, format!("ws://{remote}"), &state.ids, &state.inputs).await;
        })
}
