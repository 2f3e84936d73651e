//! Matmul throughput: the tiled kernel against the naive one, in the same process, on whatever
//! adapter is present. Each result is checked against the CPU reference before it is timed.
//!
//! cargo bench --bench matmul [-- 256,512,1024,2048]
//!
//! On a software adapter (lavapipe) the figures say nothing about GPU speed, only about the ratio.

use std::time::Instant;

use genai_lab::ops::matmul::{matmul, matmul_naive, matmul_ref, MatmulDims};
use genai_lab::{Gpu, Result, Tensor};

type MatmulFn = fn(&Gpu, &Tensor, &Tensor, Option<&Tensor>, bool, &Tensor) -> Result<()>;

/// Rows of C checked against the reference (all of them for small sizes).
const CHECKED_ROWS: usize = 16;

fn values(len: usize, seed: usize) -> Vec<f32> {
    (0..len).map(|i| ((i * 2654435761 + seed) % 2001) as f32 / 1000.0 - 1.0).collect()
}

/// Seconds per product, from enough back-to-back dispatches in one submission to fill ~0.5 s.
fn time_per_run(gpu: &Gpu, f: MatmulFn, a: &Tensor, b: &Tensor, out: &Tensor) -> Result<f64> {
    let mut runs = 1;
    loop {
        let start = Instant::now();
        for _ in 0..runs {
            f(gpu, a, b, None, false, out)?;
        }
        pollster::block_on(gpu.finish())?;
        let elapsed = start.elapsed().as_secs_f64();
        if elapsed > 0.5 || runs >= 1024 {
            return Ok(elapsed / runs as f64);
        }
        runs *= if elapsed < 0.05 { 8 } else { 2 };
    }
}

fn check(gpu: &Gpu, d: &MatmulDims, a: &[f32], b: &[f32], out: &Tensor) -> Result<f32> {
    let got = pollster::block_on(out.read(gpu))?;
    let rows = d.m.min(CHECKED_ROWS);
    let step = d.m / rows;
    let mut worst = 0.0f32;
    for r in 0..rows {
        let i = r * step;
        let row_dims = MatmulDims { m: 1, ..*d };
        let want = matmul_ref(&row_dims, &a[i * d.k..(i + 1) * d.k], b, None);
        for (g, w) in got[i * d.n..(i + 1) * d.n].iter().zip(&want) {
            let err = (g - w).abs();
            if err.is_nan() || err > 1e-5 * d.k as f32 {
                return Err(genai_lab::Error::Gpu(format!("wrong result: {g} vs {w} in row {i}")));
            }
            worst = worst.max(err);
        }
    }
    Ok(worst)
}

fn main() -> Result<()> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![256, 512, 1024, 2048]);
    let gpu = pollster::block_on(Gpu::new())?;
    let adapter = gpu.adapter();
    println!(
        "adapter: {} ({}, {}, {})",
        adapter.name, adapter.backend, adapter.device_type, adapter.driver
    );
    println!(
        "{:>6} {:>14} {:>14} {:>8} {:>10}",
        "size", "naive GFLOP/s", "tiled GFLOP/s", "ratio", "max error"
    );
    for n in sizes {
        let shape = [n, n];
        let d = MatmulDims::new(&shape, &shape, false)?;
        let (a_host, b_host) = (values(n * n, 1), values(n * n, 7));
        let a = Tensor::from_slice(&gpu, &shape, &a_host)?;
        let b = Tensor::from_slice(&gpu, &shape, &b_host)?;
        let flops = 2.0 * (n * n * n) as f64;
        let mut gflops = [0.0; 2];
        let mut worst = 0.0f32;
        for (slot, f) in [matmul_naive as MatmulFn, matmul].into_iter().enumerate() {
            let out = Tensor::full(&gpu, &shape, f32::NAN)?;
            f(&gpu, &a, &b, None, false, &out)?;
            worst = worst.max(check(&gpu, &d, &a_host, &b_host, &out)?);
            gflops[slot] = flops / time_per_run(&gpu, f, &a, &b, &out)? / 1e9;
        }
        println!(
            "{n:>6} {:>14.1} {:>14.1} {:>7.2}x {worst:>10.1e}",
            gflops[0],
            gflops[1],
            gflops[1] / gflops[0]
        );
    }
    Ok(())
}
