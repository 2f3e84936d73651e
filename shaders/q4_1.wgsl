// Q4_1 blocks (llama.cpp's format) for the quantized kernels (matmul_quant.wgsl,
// dequantize.wgsl). A matrix is [n, k] (a linear layer's [out, in]; an embedding's
// [vocab, width]), each row k / 32 blocks of 32 weights. Weight e of a block is q * d + m: d and
// m are two f16 in the block's scale word, q the low nibble of code byte e for e < 16 and the
// high nibble of byte e - 16 after. The upload interleaves the rows (ops/quant.rs): scale
// words at b * n + row, then the 4 code words of each block at (b * 4 + g) * n + row, so
// threads on neighbouring rows read neighbouring words.

@group(0) @binding(2) var<storage, read> w: array<u32>;

// (d, m) of block b of row `row`, in a matrix of n rows and `blocks` blocks a row.
fn block_scale(n: u32, blocks: u32, row: u32, b: u32) -> vec2<f32> {
    return unpack2x16float(w[b * n + row]);
}

// The codes of weights 4g .. 4g + 3 (g in 0..8) of that block: the low nibbles of code word g,
// or for g >= 4 the high nibbles of code word g - 4.
fn block_codes(n: u32, blocks: u32, row: u32, b: u32, g: u32) -> vec4<f32> {
    let v = w[blocks * n + (b * 4u + g % 4u) * n + row] >> (4u * (g / 4u));
    return vec4<f32>(vec4<u32>(v, v >> 8u, v >> 16u, v >> 24u) & vec4<u32>(15u));
}
