//! What more than one integration test needs.

use genai_lab::{Gpu, Memory};

/// Four sizes: more than the three a model keeps.
const SIZES: [usize; 4] = [1, 3, 2, 4];

/// Calls `generate` with each size in turn, `generations` times in all, and checks the memory
/// after every cycle against the memory after the first. There are more sizes (batch sizes,
/// prompt lengths) than a model keeps buffers for, so buffers are also dropped and made again;
/// after every full cycle the live buffers and their bytes must be exactly as after the first.
pub fn stays_flat(what: &str, gpu: &Gpu, generations: usize, mut generate: impl FnMut(usize)) {
    let mut first: Option<Memory> = None;
    for cycle in 0..generations / SIZES.len() {
        SIZES.iter().for_each(|&size| generate(size));
        let now = gpu.memory();
        assert!(now.buffers > 0 && now.bytes > 0, "{what}: nothing counted");
        match first {
            None => first = Some(now),
            Some(first) => assert_eq!(now, first, "{what}: memory grew by cycle {cycle}"),
        }
    }
    gpu.check().unwrap();
    eprintln!("{what}: {generations} generations, flat at {:?}", first.unwrap());
}
