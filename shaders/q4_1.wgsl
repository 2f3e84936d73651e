// Q4_1 blocks (llama.cpp's format), for the quantized kernels (matmul_quant.wgsl,
// embedding_quant.wgsl). A matrix is [n, k] (a linear layer's [out, in]; an embedding's
// [vocab, width]), each row k / 32 blocks of 5 words: word 0 holds the block's scale d and
// minimum m as two f16, words 1..4 its 16 bytes of 4-bit codes. Weight e of a block is
// q * d + m, q being the low nibble of byte e for e < 16 and the high nibble of byte e - 16 after.

@group(0) @binding(2) var<storage, read> w: array<u32>;

const BLOCK_WORDS: u32 = 5u;

// (d, m) of the block at word `base`.
fn block_scale(base: u32) -> vec2<f32> {
    return unpack2x16float(w[base]);
}

// The codes of weights 4g .. 4g + 3 (g in 0..8) of the block at word `base`: the low nibbles
// of word g, or for g >= 4 the high nibbles of word g - 4.
fn block_codes(base: u32, g: u32) -> vec4<f32> {
    let v = w[base + 1u + g % 4u] >> (4u * (g / 4u));
    return vec4<f32>(vec4<u32>(v, v >> 8u, v >> 16u, v >> 24u) & vec4<u32>(15u));
}
