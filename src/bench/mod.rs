//! The benchmark suite, one body for both faces: natively (`benches/suite.rs`, Vulkan) and in
//! the browser (`web/bench.rs`, WebGPU). Every case first checks its output against a
//! reference (the CPU, PyTorch's fixture, or another path through our kernels), then times it:
//! by GPU timestamps where the device has them (the median span), always by the wall clock too.
//! Case names are shared with `benches/torch_suite.py`, which times the same work in PyTorch.

mod kernels;
mod models;

use std::collections::HashMap;
use std::fmt::Write;

use crate::gpu::Timer;
use crate::{Error, Gpu, Result, Stats};

/// The committed files the model cases read, as paths from the repository root.
pub const FILES: &[&str] = &[
    "www/models/gan_generator_mnist.json",
    "www/models/gan_generator_mnist.safetensors",
    "www/models/gan_discriminator_mnist.json",
    "www/models/gan_discriminator_mnist.safetensors",
    "tests/fixtures/gan_mnist.safetensors",
    "tests/fixtures/gan_training_mnist.safetensors",
    "www/models/vae_mnist.json",
    "www/models/vae_mnist.safetensors",
    "tests/fixtures/vae_mnist.safetensors",
    "www/models/vae2d_mnist.json",
    "www/models/vae2d_mnist.safetensors",
    "tests/fixtures/vae2d_mnist_training.safetensors",
    "www/models/diffusion_mnist.json",
    "www/models/diffusion_mnist.safetensors",
    "tests/fixtures/diffusion_mnist.safetensors",
    "www/models/gpt_shakespeare.json",
    "www/models/gpt_shakespeare.safetensors",
    "tests/fixtures/gpt_shakespeare.safetensors",
    "www/models/imagegpt_mnist.json",
    "www/models/imagegpt_mnist.safetensors",
    "www/models/vqvae_mnist.json",
    "www/models/vqvae_mnist.safetensors",
];

/// The most runs timed per case (the timer holds one span per run).
const MAX_RUNS: u32 = 200;

pub struct Options {
    /// A short run: fewer runs per case, the small matmul sizes only by default.
    pub quick: bool,
    /// Case-name prefixes to run (`matmul/`, `gpt.`); all cases when empty.
    pub only: Vec<String>,
    /// Square matmul sizes.
    pub sizes: Vec<usize>,
    /// GPU timestamps where the device has them; off, the wall clock alone.
    pub timestamps: bool,
}

impl Options {
    pub fn new(quick: bool) -> Options {
        let sizes = if quick { vec![256, 512] } else { vec![256, 512, 1024, 2048, 4096] };
        Options { quick, only: Vec::new(), sizes, timestamps: true }
    }

    fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| name.starts_with(o.as_str()))
    }

    /// Whether any case whose name starts with `group` may be wanted (it loads a model).
    fn wants_group(&self, group: &str) -> bool {
        self.only.is_empty()
            || self.only.iter().any(|o| o.starts_with(group) || group.starts_with(o.as_str()))
    }
}

/// One case's figures.
#[derive(Debug, Clone)]
pub struct Record {
    /// `group/variant/size`, the key `benches/torch_suite.py` matches on.
    pub name: String,
    /// The shapes, in words.
    pub what: String,
    pub runs: usize,
    /// Median GPU time of one run, where the device has timestamps.
    pub gpu_ms: Option<f64>,
    /// Wall-clock time per run, each run submitted on its own, all waited for at the end.
    pub wall_ms: f64,
    /// Work per run (FLOPs, images, tokens) and its unit per second (`GFLOP/s` counts 1e9).
    pub work: f64,
    pub unit: &'static str,
    /// Largest difference from the reference, and the tolerance it had to stay under.
    pub max_error: f64,
    pub tolerance: f64,
    /// The device's counts over all timed runs (`per_run` divides them).
    pub stats: Stats,
}

impl Record {
    /// GPU time where there is one, else wall-clock.
    pub fn ms(&self) -> f64 {
        self.gpu_ms.unwrap_or(self.wall_ms)
    }

    pub fn rate(&self) -> f64 {
        let scale = if self.unit == "GFLOP/s" { 1e9 } else { 1.0 };
        self.work / scale / (self.ms() / 1e3)
    }

    /// One run's share of a count.
    fn per_run(&self, total: u64) -> f64 {
        total as f64 / self.runs.max(1) as f64
    }
}

/// The bytes of `FILES`, however they were read.
pub struct Files(pub HashMap<String, Vec<u8>>);

impl Files {
    fn bytes(&self, path: &str) -> Result<&[u8]> {
        self.0
            .get(path)
            .map(Vec::as_slice)
            .ok_or_else(|| Error::Invalid(format!("{path} was not given")))
    }

    fn text(&self, path: &str) -> Result<String> {
        Ok(String::from_utf8_lossy(self.bytes(path)?).into_owned())
    }
}

/// Runs the cases `options` selects, handing each record to `report` as it is measured.
pub async fn run(
    gpu: &Gpu,
    options: &Options,
    files: &Files,
    report: &mut dyn FnMut(&Record),
) -> Result<Vec<Record>> {
    let timer = if options.timestamps { Timer::new(gpu, MAX_RUNS) } else { None };
    let mut bench = Bench { gpu, options, timer, records: Vec::new(), report };
    kernels::matmul(&mut bench).await?;
    kernels::conv_transpose2d(&mut bench).await?;
    kernels::attention(&mut bench).await?;
    models::gan(&mut bench, files).await?;
    models::vae(&mut bench, files).await?;
    models::training(&mut bench, files).await?;
    models::diffusion(&mut bench, files).await?;
    models::gpt(&mut bench, files).await?;
    models::image_gpt(&mut bench, files).await?;
    Ok(bench.records)
}

/// How the cases are timed, in words.
pub fn timing(gpu: &Gpu, options: &Options) -> &'static str {
    match (options.timestamps, gpu.has_timestamps()) {
        (true, true) => "GPU timestamps (median run), wall clock beside",
        (true, false) => "wall clock (the device has no timestamps)",
        (false, _) => "wall clock (timestamps turned off)",
    }
}

/// What the cases share: the device, the timer and the records so far.
struct Bench<'a> {
    gpu: &'a Gpu,
    options: &'a Options,
    timer: Option<Timer>,
    records: Vec<Record>,
    report: &'a mut dyn FnMut(&Record),
}

/// A measured case before it becomes a record.
struct Case<'a> {
    name: String,
    what: String,
    work: f64,
    unit: &'static str,
    /// (largest difference, tolerance) from the check.
    checked: (f64, f64),
    run: Box<dyn FnMut() -> Result<()> + 'a>,
}

impl Bench<'_> {
    fn wants(&self, name: &str) -> bool {
        self.options.wants(name)
    }

    /// Times `case.run`: a warm-up, one run to size the count, then enough runs to fill the
    /// target time, each submitted on its own.
    async fn time(&mut self, mut case: Case<'_>) -> Result<()> {
        let gpu = self.gpu;
        let (target_ms, min_runs) = if self.options.quick { (50.0, 2) } else { (500.0, 10) };
        (case.run)()?;
        gpu.finish().await?;
        let start = now_ms();
        (case.run)()?;
        gpu.finish().await?;
        let once = (now_ms() - start).max(1e-3);
        let runs = ((target_ms / once) as u32).clamp(min_runs, MAX_RUNS);
        let counted = gpu.stats();
        let start = now_ms();
        for i in 0..runs {
            if let Some(t) = &self.timer {
                t.begin(gpu, i);
            }
            (case.run)()?;
            if let Some(t) = &self.timer {
                t.end(gpu, i);
            }
            gpu.submit()?;
        }
        gpu.finish().await?;
        let wall_ms = (now_ms() - start) / f64::from(runs);
        let stats = gpu.stats() - counted;
        let gpu_ms = match &self.timer {
            Some(t) => Some(median(t.read_ms(gpu, runs).await?)),
            None => None,
        };
        let (max_error, tolerance) = case.checked;
        self.push(Record {
            name: case.name,
            what: case.what,
            runs: runs as usize,
            gpu_ms,
            wall_ms,
            work: case.work,
            unit: case.unit,
            max_error,
            tolerance,
            stats,
        });
        Ok(())
    }

    fn push(&mut self, record: Record) {
        (self.report)(&record);
        self.records.push(record);
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Fails unless every `got` is within `atol + rtol * |want|` of `want` (NaN fails); returns
/// the largest difference and `atol`.
fn check(what: &str, got: &[f32], want: &[f32], atol: f64, rtol: f64) -> Result<(f64, f64)> {
    if got.len() != want.len() {
        return Err(Error::Gpu(format!(
            "{what}: {} values, the reference has {}",
            got.len(),
            want.len()
        )));
    }
    let mut worst = 0.0f64;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (f64::from(g) - f64::from(w)).abs();
        if err.is_nan() || err > atol + rtol * f64::from(w).abs() {
            return Err(Error::Gpu(format!("{what}: {g} at {i}, the reference has {w}")));
        }
        worst = worst.max(err);
    }
    Ok((worst, atol))
}

/// Milliseconds from a fixed start.
#[cfg(not(target_arch = "wasm32"))]
fn now_ms() -> f64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64() * 1e3
}

#[cfg(target_arch = "wasm32")]
fn now_ms() -> f64 {
    #[wasm_bindgen::prelude::wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(js_namespace = performance)]
        fn now() -> f64;
    }
    now()
}

/// The records as JSON, with the adapter and the timing method.
pub fn to_json(gpu: &Gpu, options: &Options, records: &[Record]) -> String {
    let a = gpu.adapter();
    let rows: Vec<String> = records.iter().map(|r| format!("  {}", record_json(r))).collect();
    format!(
        "{{\n \"adapter\": {{\"name\": {}, \"backend\": {}, \"type\": {}, \"driver\": {}}},\n \"timing\": {},\n \"records\": [\n{}\n ]\n}}\n",
        quoted(&a.name),
        quoted(&a.backend),
        quoted(&a.device_type),
        quoted(&a.driver),
        quoted(timing(gpu, options)),
        rows.join(",\n")
    )
}

/// One record as a JSON object.
pub fn record_json(r: &Record) -> String {
    let gpu_ms = r.gpu_ms.map_or("null".into(), |v| format!("{v:.6}"));
    let counts: Vec<String> = (r.stats.fields().iter())
        .map(|&(name, total)| format!("{}: {}", quoted(name), r.per_run(total)))
        .collect();
    format!(
        "{{\"name\": {}, \"what\": {}, \"runs\": {}, \"gpu_ms\": {gpu_ms}, \"wall_ms\": {:.6}, \"work\": {}, \"unit\": {}, \"rate\": {:.3}, \"max_error\": {:.3e}, \"tolerance\": {:.3e}, \"per_run\": {{{}}}}}",
        quoted(&r.name),
        quoted(&r.what),
        r.runs,
        r.wall_ms,
        r.work,
        quoted(r.unit),
        r.rate(),
        r.max_error,
        r.tolerance,
        counts.join(", ")
    )
}

fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => out.extend(['\\', c]),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out + "\""
}

/// The table's heading, for `row`.
pub fn header() -> String {
    format!(
        "{:<32} {:>6} {:>11} {:>11} {:>18} {:>9} {:>6} {:>5} {:>5} {:>7} {:>9}",
        "case",
        "runs",
        "GPU ms",
        "wall ms",
        "rate",
        "max err",
        "disp",
        "subm",
        "bufs",
        "groups",
        "read B"
    )
}

/// One record as a line of the table.
pub fn row(r: &Record) -> String {
    let gpu = r.gpu_ms.map_or("-".into(), |v| format!("{v:.4}"));
    let rate = format!("{:.1} {}", r.rate(), r.unit);
    format!(
        "{:<32} {:>6} {gpu:>11} {:>11.4} {rate:>18} {:>9.1e} {:>6.0} {:>5.1} {:>5.1} {:>7.1} {:>9.0}",
        r.name,
        r.runs,
        r.wall_ms,
        r.max_error,
        r.per_run(r.stats.dispatches),
        r.per_run(r.stats.submissions),
        r.per_run(r.stats.buffers_created),
        r.per_run(r.stats.bind_groups_created),
        r.per_run(r.stats.bytes_read_back)
    )
}
