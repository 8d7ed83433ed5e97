//! `trigapi` binary: parse the command line and hand over to the library.

/// mimalloc: a request allocates a few dozen small objects, and glibc's allocator was about a
/// tenth of the CPU time of a cache hit (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match trigapi::cli::run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
