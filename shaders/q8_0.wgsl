// Q8_0 blocks, for the quantized kernels (matmul_quant.wgsl, embedding_quant.wgsl). llama.cpp
// stores 34 bytes a block (an f16 scale, 32 signed bytes); the upload repacks each into 9 words
// so that blocks stay word-aligned: word 0 the scale d as f32, words 1..8 the codes, four a
// word, first in the lowest byte. Weight e of a block is q * d.

@group(0) @binding(2) var<storage, read> w: array<u32>;

const BLOCK_WORDS: u32 = 9u;

// (d, 0) of the block at word `base`: Q8_0 has no minimum.
fn block_scale(base: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(w[base]), 0.0);
}

// The signed code q of weight e (0..31) of the block at word `base`.
fn block_code(base: u32, e: u32) -> f32 {
    let word = bitcast<i32>(w[base + 1u + e / 4u]);
    return f32((word << (24u - 8u * (e % 4u))) >> 24u);
}
