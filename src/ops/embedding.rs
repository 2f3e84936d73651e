//! Embedding lookup (`nn.Embedding`): one table row per token id.

use super::{expect_output, to_u32};
use crate::error::invalid;
use crate::gpu::{kernel, params, Kernel, Workgroups};
use crate::{Gpu, Result, Tensor};

pub(super) const KERNEL: Kernel<Params> = kernel!("embedding.wgsl", "main");
const WORKGROUP_SIZE: u32 = 64;

params! {
    pub(super) struct Params {
        len: u32,
        d: u32,
        add_positions: u32,
        past: u32,
    }
}

/// `out[t] = table[ids[t]]` for a table `[V, D]`; `out` is `[ids.len(), D]`. Every id must be
/// below `V`.
pub fn embedding(gpu: &Gpu, table: &Tensor, ids: &[u32], out: &Tensor) -> Result<()> {
    run(gpu, table, ids, None, out)
}

/// `out[t] = table[ids[t]] + positions[past + t]`: token and position embeddings (GPT-2's wte
/// and wpe) in one dispatch, for tokens at positions `past..`.
pub fn embedding_at(
    gpu: &Gpu,
    table: &Tensor,
    ids: &[u32],
    positions: &Tensor,
    past: usize,
    out: &Tensor,
) -> Result<()> {
    run(gpu, table, ids, Some((positions, past)), out)
}

fn run(
    gpu: &Gpu,
    table: &Tensor,
    ids: &[u32],
    at: Option<(&Tensor, usize)>,
    out: &Tensor,
) -> Result<()> {
    let &[vocab, d] = table.shape() else {
        invalid!("embedding table must be [V, D]; got {:?}", table.shape());
    };
    if ids.is_empty() {
        invalid!("embedding needs at least one token id");
    }
    if let Some((position, id)) = ids.iter().enumerate().find(|&(_, &id)| id as usize >= vocab) {
        invalid!("token id {id} at position {position} is outside the vocabulary of {vocab}");
    }
    if let Some((positions, past)) = at {
        let &[rows, pd] = positions.shape() else {
            invalid!("position embeddings must be [P, D]; got {:?}", positions.shape());
        };
        if pd != d || past.checked_add(ids.len()).is_none_or(|end| end > rows) {
            invalid!(
                "positions {past}.. for {} tokens do not fit position embeddings {:?} of width {d}",
                ids.len(),
                positions.shape()
            );
        }
    }
    expect_output(
        "embedding output",
        out,
        &[ids.len(), d],
        [table].into_iter().chain(at.map(|a| a.0)),
    )?;
    if gpu.is_reference() {
        let mut values = embedding_ref(&table.host()?, d, ids);
        if let Some((positions, past)) = at {
            let rows = &positions.host()?[past * d..];
            values.iter_mut().zip(rows).for_each(|(v, p)| *v += p);
        }
        return out.set_host(values);
    }
    let params = Params {
        len: to_u32("embedding output size", out.numel())?,
        d: to_u32("embedding width", d)?,
        add_positions: at.is_some() as u32,
        past: to_u32("past", at.map_or(0, |a| a.1))?,
    };
    let groups = Workgroups::linear(gpu, out.numel(), WORKGROUP_SIZE)?;
    let positions = gpu.optional(at.map(|a| a.0))?;
    let buffers = [table.buffer()?, &gpu.input(out, ids)?, out.buffer()?, positions];
    gpu.dispatch(&KERNEL, &params, &buffers, groups, out)
}

/// Reference: the rows of `table` (rows of length `d`) picked by `ids`, concatenated.
pub fn embedding_ref(table: &[f32], d: usize, ids: &[u32]) -> Vec<f32> {
    ids.iter().flat_map(|&id| &table[id as usize * d..(id as usize + 1) * d]).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::Error;

    gpu_tests! {
        async fn looks_up_rows() {
            let gpu = gpu().await;
            let mut rng = Rng::new(1);
            let (vocab, d) = (65, 33);
            let (table, table_host) = random(gpu, &mut rng, &[vocab, d]);
            // 257 ids, so rows repeat; the first and last rows are always among them.
            let mut ids: Vec<u32> = (0..257).map(|_| rng.below(vocab) as u32).collect();
            ids[3] = 0;
            ids[100] = vocab as u32 - 1;
            let out = poisoned(gpu, &[ids.len(), d]);
            embedding(gpu, &table, &ids, &out).unwrap();
            // A copy: exact.
            let want = embedding_ref(&table_host, d, &ids);
            assert_close("embedding", &out.read(gpu).await.unwrap(), &want, 0.0, 0.0);
        }

        async fn adds_position_rows() {
            let gpu = gpu().await;
            let mut rng = Rng::new(2);
            let (vocab, d, context) = (65, 33, 40);
            let (table, table_host) = random(gpu, &mut rng, &[vocab, d]);
            let (positions, positions_host) = random(gpu, &mut rng, &[context, d]);
            let ids: Vec<u32> = (0..7).map(|_| rng.below(vocab) as u32).collect();
            let out = poisoned(gpu, &[ids.len(), d]);
            embedding_at(gpu, &table, &ids, &positions, 33, &out).unwrap();
            let tokens = embedding_ref(&table_host, d, &ids);
            let want: Vec<f32> = tokens.iter().zip(&positions_host[33 * d..]).map(|(t, p)| t + p).collect();
            assert_close("token and position embeddings", &out.read(gpu).await.unwrap(), &want, 0.0, 0.0);
            let bad = |r: Result<()>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
            bad(embedding_at(gpu, &table, &ids, &positions, 34, &out));
            bad(embedding_at(gpu, &table, &ids, &positions, usize::MAX, &out));
            bad(embedding_at(gpu, &table, &ids, &Tensor::zeros(gpu, &[context, 32]).unwrap(), 0, &out));
            gpu.check().unwrap();
        }

        async fn bad_input_is_an_error() {
            let gpu = gpu().await;
            let table = Tensor::zeros(gpu, &[65, 33]).unwrap();
            let out = Tensor::zeros(gpu, &[3, 33]).unwrap();
            match embedding(gpu, &table, &[1, 70, 2], &out) {
                Err(Error::Invalid(m)) => assert!(m.contains("id 70 at position 1"), "{m}"),
                other => panic!("an out-of-range id gave {other:?}"),
            }
            assert!(matches!(embedding(gpu, &table, &[], &out), Err(Error::Invalid(_))));
            assert!(matches!(embedding(gpu, &table, &[1, 2], &out), Err(Error::Invalid(_))));
            let flat = Tensor::zeros(gpu, &[65]).unwrap();
            assert!(matches!(embedding(gpu, &flat, &[1, 2, 3], &out), Err(Error::Invalid(_))));
            gpu.check().unwrap();
        }
    }
}
