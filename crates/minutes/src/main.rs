//! The `minutes` binary: parse the command line, hand over to the library.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    match minutes::cli::main().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
