//! `tabcoin`: the relay (`startnode`) and the seed's CLI verbs.

use std::process::ExitCode;

use clap::Parser;
use tabcoin_core::params::ChainParams;
use tabcoin_relay::cli::{self, Cli, Command};
use tabcoin_relay::verbs::{self, Verb};
use tabcoin_relay::{daemon, offline, rpc};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One TLS backend is compiled in (ring); make it the process's, for --tls-cert and wss:// peers.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Startnode(options) => daemon::run(&cli.common, options).await,
            command => match Verb::from_command(command) {
                Some(verb) => run_verb(&cli.common, &verb).await.map(|text| println!("{text}")),
                None => Ok(()),
            },
        }
    });
    // Miner threads and dialers must not keep the process alive.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Through the running node's RPC if there is one, else against the store directly.
async fn run_verb(common: &cli::Common, verb: &Verb) -> Result<String, verbs::VerbError> {
    let datadir = common.datadir();
    match rpc::call(&datadir, verb, offline::passphrase()).await {
        Ok(text) => Ok(text),
        Err(rpc::RpcError::Failed(text)) => Err(verbs::VerbError::Failed(text)),
        Err(rpc::RpcError::NotRunning) => {
            let params = ChainParams::for_network(common.network);
            let verb = verb.clone();
            tokio::task::spawn_blocking(move || offline::execute(&verb, &datadir, &params))
                .await
                .unwrap_or_else(|e| Err(verbs::VerbError::Failed(format!("the command failed: {e}"))))
        }
    }
}
