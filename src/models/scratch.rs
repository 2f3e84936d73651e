//! Per-size scratch buffers for a forward pass, made on first use of a size (a batch size, a
//! prompt length) and kept for the next call of that size. Only the most recent few sizes are
//! kept: a chat whose every prompt has a new length must not pile up memory.

use crate::{Gpu, Result, Tensor};

const KEEP: usize = 3;

pub(crate) struct Scratch<B> {
    /// Least recently used first.
    kept: Vec<(usize, B)>,
}

impl<B> Scratch<B> {
    pub fn new() -> Scratch<B> {
        Scratch { kept: Vec::new() }
    }

    /// The buffers for `size`, made by `make` unless kept from an earlier call.
    pub fn get(&mut self, size: usize, make: impl FnOnce() -> Result<B>) -> Result<&mut B> {
        match self.kept.iter().position(|(s, _)| *s == size) {
            Some(i) => {
                let entry = self.kept.remove(i);
                self.kept.push(entry);
            }
            None => {
                let made = make()?;
                if self.kept.len() == KEEP {
                    self.kept.remove(0);
                }
                self.kept.push((size, made));
            }
        }
        let last = self.kept.len() - 1;
        Ok(&mut self.kept[last].1)
    }

    /// The buffers made earlier for `size` (a backward pass after its forward pass's).
    pub fn made(&mut self, size: usize) -> Result<&mut B> {
        self.get(size, || {
            Err(crate::Error::Invalid(format!("no buffers were made for size {size} yet")))
        })
    }

    #[cfg(test)]
    pub fn sizes(&self) -> Vec<usize> {
        self.kept.iter().map(|(s, _)| *s).collect()
    }
}

/// `N` zero tensors of one shape: a layer's activations, or their gradients used in turn.
pub(crate) fn tensors<const N: usize>(gpu: &Gpu, shape: &[usize]) -> Result<[Tensor; N]> {
    let made: Vec<Tensor> = (0..N).map(|_| Tensor::zeros(gpu, shape)).collect::<Result<_>>()?;
    Ok(made.try_into().unwrap_or_else(|_| unreachable!("N tensors were made")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn keeps_the_most_recent_sizes() {
        let mut scratch = Scratch::new();
        let mut made = 0;
        for size in [4, 7, 4, 9, 1, 4, 7] {
            scratch
                .get(size, || {
                    made += 1;
                    Ok(())
                })
                .unwrap();
        }
        // 4, 7, 9 and 1 made once each; 7 again after 1 pushed it out.
        assert_eq!(made, 5);
        assert_eq!(scratch.sizes(), [1, 4, 7]);
        assert!(scratch.get(2, || Err(crate::Error::Invalid("no".into()))).is_err());
        assert_eq!(scratch.sizes(), [1, 4, 7]);
    }
}
