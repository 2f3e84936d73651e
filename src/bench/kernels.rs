//! Single kernels on random inputs, checked against their CPU references: square matmuls, the
//! GAN generator's transposed convolutions, and the character GPT's attention.

use super::{check, Bench, Case};
use crate::ops::attention::{attention as attend, attention_ref, AttentionDims, KvCache};
use crate::ops::conv::{
    conv_transpose2d as conv_t, conv_transpose2d_ref, Conv2dDims, Conv2dGeometry,
};
use crate::ops::matmul::{matmul as tiled, matmul_naive, matmul_ref, MatmulDims};
use crate::rng::Rng;
use crate::{Gpu, Result, Tensor};

type MatmulFn = fn(&Gpu, &Tensor, &Tensor, Option<&Tensor>, bool, &Tensor) -> Result<()>;

/// Rows of a matmul's output checked against the reference, spread over the matrix.
const CHECKED_ROWS: usize = 16;

fn uniform(rng: &mut Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.uniform() as f32 * 2.0 - 1.0).collect()
}

/// `n x n` times `n x n`: the tiled kernel (what the models run) and the naive one.
pub(super) async fn matmul(b: &mut Bench<'_>) -> Result<()> {
    let gpu = b.gpu;
    for n in b.options.sizes.clone() {
        let variants = [("matmul", tiled as MatmulFn), ("matmul_naive", matmul_naive)];
        for (kernel, f) in variants {
            let name = format!("{kernel}/{n}");
            if !b.wants(&name) {
                continue;
            }
            let mut rng = Rng::new(n as u64);
            let (a_host, b_host) = (uniform(&mut rng, n * n), uniform(&mut rng, n * n));
            let a = Tensor::from_slice(gpu, &[n, n], &a_host)?;
            let bm = Tensor::from_slice(gpu, &[n, n], &b_host)?;
            let out = Tensor::full(gpu, &[n, n], f32::NAN)?;
            f(gpu, &a, &bm, None, false, &out)?;
            let row = MatmulDims::new(&[1, n], &[n, n], false)?;
            let atol = 2e-6 * n as f64 + 1e-6;
            let mut checked = (0.0f64, atol);
            for r in 0..CHECKED_ROWS.min(n) {
                let i = r * (n / CHECKED_ROWS.min(n));
                let got = out.read_range(gpu, i * n..(i + 1) * n).await?;
                let want = matmul_ref(&row, &a_host[i * n..(i + 1) * n], &b_host, None);
                checked.0 = checked.0.max(check(&name, &got, &want, atol, 1e-5)?.0);
            }
            b.time(Case {
                name,
                what: format!("{n}x{n} by {n}x{n}, fp32"),
                work: 2.0 * (n as f64).powi(3),
                unit: "GFLOP/s",
                checked,
                run: Box::new(move || f(gpu, &a, &bm, None, false, &out)),
            })
            .await?;
        }
    }
    Ok(())
}

/// One of the GAN generator's layers at batch 64.
struct Layer {
    name: &'static str,
    input: [usize; 4],
    weight: [usize; 4],
    stride: usize,
    padding: usize,
    bias: bool,
}

const GAN_LAYERS: [Layer; 3] = [
    Layer {
        name: "gan.net.0",
        input: [64, 74, 1, 1],
        weight: [74, 96, 7, 7],
        stride: 1,
        padding: 0,
        bias: false,
    },
    Layer {
        name: "gan.net.3",
        input: [64, 96, 7, 7],
        weight: [96, 48, 4, 4],
        stride: 2,
        padding: 1,
        bias: false,
    },
    Layer {
        name: "gan.net.6",
        input: [64, 48, 14, 14],
        weight: [48, 1, 4, 4],
        stride: 2,
        padding: 1,
        bias: true,
    },
];

pub(super) async fn conv_transpose2d(b: &mut Bench<'_>) -> Result<()> {
    let gpu = b.gpu;
    for Layer { name: layer, input, weight, stride, padding, bias: has_bias } in GAN_LAYERS {
        let name = format!("conv_transpose2d/{layer}/{}", input[0]);
        if !b.wants(&name) {
            continue;
        }
        let geometry = Conv2dGeometry::new(stride, padding);
        let d = Conv2dDims::new(&input, &weight, geometry, true)?;
        let mut rng = Rng::new(2);
        let x_host = uniform(&mut rng, input.iter().product());
        let w_host = uniform(&mut rng, weight.iter().product());
        let bias_host = uniform(&mut rng, d.out_channels);
        let x = Tensor::from_slice(gpu, &input, &x_host)?;
        let w = Tensor::from_slice(gpu, &weight, &w_host)?;
        let bias = if has_bias {
            Some(Tensor::from_slice(gpu, &[d.out_channels], &bias_host)?)
        } else {
            None
        };
        let out = Tensor::full(gpu, &d.out_shape(), f32::NAN)?;
        conv_t(gpu, &x, &w, bias.as_ref(), geometry, &out)?;
        let want = conv_transpose2d_ref(&d, &x_host, &w_host, has_bias.then_some(&bias_host[..]));
        let taps = d.in_channels * d.kernel[0].div_ceil(stride) * d.kernel[1].div_ceil(stride);
        let checked = check(&name, &out.read(gpu).await?, &want, 2e-6 * taps as f64 + 1e-6, 1e-5)?;
        b.time(Case {
            name,
            what: format!(
                "{input:?} -> {:?}, kernel {}, stride {stride}, padding {padding}",
                d.out_shape(),
                weight[2]
            ),
            // Every input pixel meets every tap, as PyTorch's count has it.
            work: 2.0
                * (input.iter().product::<usize>() * weight[1] * weight[2] * weight[3]) as f64,
            unit: "GFLOP/s",
            checked,
            run: Box::new(move || conv_t(gpu, &x, &w, bias.as_ref(), geometry, &out)),
        })
        .await?;
    }
    Ok(())
}

/// The character GPT's attention (6 heads of 30, context 256): a whole 256-token prompt, and
/// one token at the last position; and SmolLM2's (9 query heads sharing 3 kv heads of 64) for
/// one token after 2047, split over the keys on a hardware GPU.
pub(super) async fn attention(b: &mut Bench<'_>) -> Result<()> {
    let gpu = b.gpu;
    let cases = [
        ("prefill", 256, 256, 6, 6, 30),
        ("decode", 256, 1, 6, 6, 30),
        ("decode", 2048, 1, 9, 3, 64),
    ];
    for (kind, context, tokens, heads, kv_heads, head_dim) in cases {
        let name = format!("attention/{kind}/{context}");
        if !b.wants(&name) {
            continue;
        }
        let past = context - tokens;
        let mut rng = Rng::new(3);
        let q_host = uniform(&mut rng, tokens * heads * head_dim);
        let k_host = uniform(&mut rng, context * kv_heads * head_dim);
        let v_host = uniform(&mut rng, context * kv_heads * head_dim);
        let q = Tensor::from_slice(gpu, &[tokens, heads, head_dim], &q_host)?;
        let cache = KvCache::new(gpu, context, heads, kv_heads, head_dim)?;
        cache.k.write(gpu, &k_host)?;
        cache.v.write(gpu, &v_host)?;
        let out = Tensor::full(gpu, &[tokens, heads, head_dim], f32::NAN)?;
        let scale = 1.0 / (head_dim as f32).sqrt();
        attend(gpu, &q, &cache, past, scale, None, &out)?;
        let d = AttentionDims::new(q.shape(), cache.k.shape(), past)?;
        let (want, _) = attention_ref(&d, &q_host, &k_host, &v_host, scale);
        let checked = check(&name, &out.read(gpu).await?, &want, 1e-5, 1e-5)?;
        // Scores and the weighted sum: 4 FLOPs per head dimension and visible key.
        let pairs = (past + 1..=context).sum::<usize>();
        b.time(Case {
            name,
            what: format!(
                "{tokens} queries over {context} keys, {heads} heads ({kv_heads} kv) of {head_dim}, causal"
            ),
            work: 4.0 * (heads * head_dim * pairs) as f64,
            unit: "GFLOP/s",
            checked,
            run: Box::new(move || attend(gpu, &q, &cache, past, scale, None, &out)),
        })
        .await?;
    }
    Ok(())
}
