//! The benchmark suite on the native adapter (Vulkan): every case checked, then timed; prints a
//! table and writes JSON. The cases are in `src/bench/`; `www/bench.html` runs them in a browser.
//!
//! cargo bench --bench suite -- [--quick] [--only matmul/,gpt.] [--sizes 256,4096] [--json FILE]
//!                               [--no-timestamps]

use std::collections::HashMap;

use genai_lab::bench::{self, Files, Options};
use genai_lab::{Error, Gpu, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut options = Options::new(args.iter().any(|a| a == "--quick"));
    let mut args = args.into_iter();
    let mut json = None;
    let list = |v: Option<String>| -> Vec<String> {
        v.unwrap_or_default().split(',').filter(|s| !s.is_empty()).map(String::from).collect()
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--only" => options.only = list(args.next()),
            "--sizes" => {
                let sizes: std::result::Result<Vec<usize>, _> =
                    list(args.next()).iter().map(|n| n.parse()).collect();
                options.sizes = sizes.map_err(|e| Error::Invalid(format!("--sizes: {e}")))?;
            }
            "--json" => json = args.next(),
            "--no-timestamps" => options.timestamps = false,
            // --quick was read above; cargo bench passes --bench to every benchmark.
            "--quick" | "--bench" => {}
            other => return Err(Error::Invalid(format!("unknown argument {other}"))),
        }
    }
    let mut files = HashMap::new();
    for &path in bench::FILES {
        let bytes = std::fs::read(path).map_err(|e| Error::Invalid(format!("{path}: {e}")))?;
        files.insert(path.to_string(), bytes);
    }
    let gpu = pollster::block_on(Gpu::new())?;
    let a = gpu.adapter();
    println!("adapter: {} ({}, {}, {})", a.name, a.backend, a.device_type, a.driver);
    println!("timing: {}", bench::timing(&gpu, &options));
    println!("{}", bench::header());
    let mut print = |r: &bench::Record| println!("{}", bench::row(r));
    let records = pollster::block_on(bench::run(&gpu, &options, &Files(files), &mut print))?;
    if let Some(path) = json {
        std::fs::write(&path, bench::to_json(&gpu, &options, &records))
            .map_err(|e| Error::Invalid(format!("{path}: {e}")))?;
        println!("wrote {path}");
    }
    Ok(())
}
