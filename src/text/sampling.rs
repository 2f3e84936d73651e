//! Choosing the next token from the model's logits: temperature, top-k, top-p (nucleus) and
//! greedy decoding, from a seeded generator so that the same seed gives the same text.

use crate::error::invalid;
use crate::ops::topk::Candidates;
use crate::rng::Rng;
use crate::Result;

/// How to pick the next token. Temperature 0 is greedy (always the most likely token).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens; 0 keeps them all.
    pub top_k: usize,
    /// Keep the fewest most likely tokens whose probabilities sum to at least `top_p`.
    pub top_p: f32,
}

impl Sampling {
    pub fn check(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            invalid!("temperature must be 0 or more; got {}", self.temperature);
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            invalid!("top-p must be in (0, 1]; got {}", self.top_p);
        }
        Ok(())
    }
}

/// The softmax of `logits / temperature`, the maximum subtracted; at temperature 0, all the
/// probability on the most likely token.
pub fn probabilities(logits: &[f32], temperature: f32) -> Vec<f32> {
    let best = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if temperature == 0.0 {
        let argmax = logits.iter().position(|&l| l == best).unwrap_or(0);
        return (0..logits.len()).map(|i| (i == argmax) as u8 as f32).collect();
    }
    let exps: Vec<f64> =
        logits.iter().map(|&l| (((l - best) / temperature) as f64).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| (e / sum) as f32).collect()
}

/// The next token id from `logits`, drawing from `rng`.
pub fn sample(logits: &[f32], s: &Sampling, rng: &mut Rng) -> Result<usize> {
    s.check()?;
    if logits.is_empty() {
        invalid!("no logits to sample from");
    }
    let probs = probabilities(logits, s.temperature);
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    Ok(draw(&order, |i| probs[i], s, rng))
}

/// Whether `n` candidates (the likeliest tokens) hold every token `s` may draw: greedy, or a
/// top-k of at most `n`.
pub fn candidates_suffice(n: usize, s: &Sampling) -> bool {
    s.temperature == 0.0 || (1..=n).contains(&s.top_k)
}

/// The next token id from the likeliest candidates of a row (`ops::topk`), drawing from `rng`:
/// the draw `sample` makes from the whole row, up to the rounding of the row's sum, whenever the
/// candidates suffice (`candidates_suffice`).
pub fn sample_candidates(c: &Candidates, s: &Sampling, rng: &mut Rng) -> Result<u32> {
    s.check()?;
    if c.ids.is_empty() || !candidates_suffice(c.ids.len(), s) {
        invalid!("{} candidates cannot be sampled with top-k {}", c.ids.len(), s.top_k);
    }
    let max = c.logits[0];
    let prob = |r: usize| {
        if s.temperature == 0.0 {
            return (r == 0) as u8 as f32;
        }
        let scaled = ((c.logits[r] - max) / s.temperature) as f64;
        (scaled - c.log_sum_at_temperature as f64).exp() as f32
    };
    let order: Vec<usize> = (0..c.ids.len()).collect();
    Ok(c.ids[draw(&order, prob, s, rng)])
}

/// The model's probabilities at temperature 1 from its likeliest candidates, indexed by token id
/// over a vocabulary of `vocab`: 0 for the tokens not among them.
pub fn candidate_probabilities(c: &Candidates, vocab: usize) -> Vec<f32> {
    let mut p = vec![0.0; vocab];
    for (&id, prob) in c.ids.iter().zip(c.probabilities()) {
        p[id as usize] = prob;
    }
    p
}

/// Draws from the tokens of `order` (likeliest first), of probabilities `prob`, those top-k and
/// top-p keep; one draw of `rng` whatever the settings, so that seeds stay in step.
fn draw(order: &[usize], prob: impl Fn(usize) -> f32, s: &Sampling, rng: &mut Rng) -> usize {
    let mut kept = if s.top_k > 0 { &order[..s.top_k.min(order.len())] } else { order };
    let mut sum = 0.0;
    let nucleus = kept
        .iter()
        .position(|&i| {
            sum += prob(i);
            sum >= s.top_p
        })
        .map_or(kept.len(), |last| last + 1);
    kept = &kept[..nucleus];
    let total: f32 = kept.iter().map(|&i| prob(i)).sum();
    let mut target = rng.uniform() as f32 * total;
    for &i in kept {
        target -= prob(i);
        if target <= 0.0 {
            return i;
        }
    }
    kept[kept.len() - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(temperature: f32, top_k: usize, top_p: f32) -> Sampling {
        Sampling { temperature, top_k, top_p }
    }

    fn counts(logits: &[f32], s: Sampling, draws: usize) -> Vec<usize> {
        let mut rng = Rng::new(1);
        let mut counts = vec![0; logits.len()];
        for _ in 0..draws {
            counts[sample(logits, &s, &mut rng).unwrap()] += 1;
        }
        counts
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn filters_and_frequencies() {
        let logits = [2.0f32.ln(), 1.0f32.ln(), 4.0f32.ln(), 0.5f32.ln(), 0.5f32.ln()];
        // Probabilities 0.25, 0.125, 0.5, 0.0625, 0.0625.
        let p = probabilities(&logits, 1.0);
        assert!((p[2] - 0.5).abs() < 1e-6 && (p[1] - 0.125).abs() < 1e-6, "{p:?}");
        assert_eq!(counts(&logits, settings(0.0, 0, 1.0), 50), [0, 0, 50, 0, 0], "greedy");
        let top2 = counts(&logits, settings(1.0, 2, 1.0), 3000);
        assert_eq!((top2[1], top2[3], top2[4]), (0, 0, 0), "top-k 2 keeps tokens 2 and 0");
        assert!((top2[2] as f32 / 3000.0 - 2.0 / 3.0).abs() < 0.03, "{top2:?}");
        let nucleus = counts(&logits, settings(1.0, 0, 0.8), 3000);
        assert_eq!((nucleus[3], nucleus[4]), (0, 0), "top-p 0.8 keeps 0.5 + 0.25 + 0.125");
        assert!(nucleus[1] > 0, "{nucleus:?}");
        let all = counts(&logits, settings(1.0, 0, 1.0), 8000);
        assert!((all[3] as f32 / 8000.0 - 0.0625).abs() < 0.015, "{all:?}");
        let cold = probabilities(&logits, 0.5);
        assert!(cold[2] > p[2], "a lower temperature sharpens the distribution");
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn candidates_draw_as_the_whole_row_does() {
        use crate::ops::topk::top_k_ref;
        let mut data = Rng::new(3);
        let logits: Vec<f32> = (0..300).map(|_| (data.uniform() as f32 - 0.5) * 9.0).collect();
        for s in [
            settings(0.0, 0, 1.0),
            settings(0.8, 40, 0.9),
            settings(1.0, 10, 1.0),
            settings(1.3, 64, 0.5),
        ] {
            let c = Candidates::from_output(&top_k_ref(&logits, 64, s.temperature)).unwrap();
            let (mut a, mut b) = (Rng::new(11), Rng::new(11));
            for n in 0..500 {
                let whole = sample(&logits, &s, &mut a).unwrap() as u32;
                assert_eq!(
                    sample_candidates(&c, &s, &mut b).unwrap(),
                    whole,
                    "draw {n} with {s:?}"
                );
            }
        }
        // Their probabilities are the row's, at temperature 1, where they are kept.
        let c = Candidates::from_output(&top_k_ref(&logits, 64, 1.0)).unwrap();
        let (sparse, full) = (candidate_probabilities(&c, 300), probabilities(&logits, 1.0));
        for &id in &c.ids {
            assert!((sparse[id as usize] - full[id as usize]).abs() < 1e-6, "token {id}");
        }
        assert_eq!(sparse.iter().filter(|&&p| p > 0.0).count(), 64);
        // Top-k 0 (or above the candidates) needs the whole row.
        assert!(
            !candidates_suffice(64, &settings(1.0, 0, 0.9))
                && !candidates_suffice(64, &settings(1.0, 65, 1.0))
        );
        assert!(sample_candidates(&c, &settings(1.0, 0, 0.9), &mut Rng::new(1)).is_err());

        // Frequencies, as the whole row's test has them: top-k 2 of probabilities 0.5, 0.25, ...
        let small = [2.0f32.ln(), 1.0f32.ln(), 4.0f32.ln(), 0.5f32.ln(), 0.5f32.ln()];
        let c = Candidates::from_output(&top_k_ref(&small, 3, 1.0)).unwrap();
        let mut rng = Rng::new(1);
        let mut counts = [0usize; 5];
        for _ in 0..3000 {
            counts[sample_candidates(&c, &settings(1.0, 2, 1.0), &mut rng).unwrap() as usize] += 1;
        }
        assert_eq!((counts[1], counts[3], counts[4]), (0, 0, 0), "top-k 2 keeps tokens 2 and 0");
        assert!((counts[2] as f32 / 3000.0 - 2.0 / 3.0).abs() < 0.03, "{counts:?}");
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn same_seed_same_choices_and_bad_settings() {
        let logits: Vec<f32> = (0..81).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            (0..20)
                .map(|_| sample(&logits, &settings(0.8, 10, 0.95), &mut rng).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let mut rng = Rng::new(1);
        for bad in [
            settings(-0.1, 0, 1.0),
            settings(f32::NAN, 0, 1.0),
            settings(1.0, 0, 0.0),
            settings(1.0, 0, 1.5),
        ] {
            assert!(sample(&logits, &bad, &mut rng).is_err(), "{bad:?}");
        }
        assert!(sample(&[], &settings(1.0, 0, 1.0), &mut rng).is_err());
    }
}
