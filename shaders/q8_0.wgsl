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

// The signed codes of weights 4g .. 4g + 3 (g in 0..8) of the block at word `base`.
fn block_codes(base: u32, g: u32) -> vec4<f32> {
    // Each byte shifted to the top, then arithmetically back down: sign-extended.
    let v = bitcast<i32>(w[base + 1u + g]);
    return vec4<f32>(vec4<i32>(v << 24u, v << 16u, v << 8u, v) >> vec4<u32>(24u));
}
