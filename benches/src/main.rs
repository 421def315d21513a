//! `warren-bench`: drive a broker and print what it did.

use clap::Parser;
use warren_bench::options::Options;

fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads.max(1))
        .enable_all()
        .build()?;
    let json = options.json;
    let report = runtime.block_on(warren_bench::run::run(options));
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.text());
    }
    if report.errors > 0 {
        std::process::exit(2);
    }
    Ok(())
}
