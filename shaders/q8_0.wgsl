// Q8_0 blocks (llama.cpp's format) for the quantized kernels (matmul_quant.wgsl,
// dequantize.wgsl). A matrix is [n, k], each row k / 32 blocks of 32 weights; weight e of
// a block is q * d, q its signed code byte e. The upload converts d from f16 to f32 and
// interleaves the rows (ops/quant.rs): scales at b * n + row, then the 8 code words of each
// block at (b * 8 + g) * n + row, four codes a word, the first in the lowest byte.

@group(0) @binding(2) var<storage, read> w: array<u32>;

// (d, 0) of block b of row `row`: Q8_0 has no minimum.
fn block_scale(n: u32, blocks: u32, row: u32, b: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(w[b * n + row]), 0.0);
}

// The signed codes of weights 4g .. 4g + 3 (g in 0..8) of that block.
fn block_codes(n: u32, blocks: u32, row: u32, b: u32, g: u32) -> vec4<f32> {
    // Each byte shifted to the top, then arithmetically back down: sign-extended.
    let v = bitcast<i32>(w[blocks * n + (b * 8u + g) * n + row]);
    return vec4<f32>(vec4<i32>(v << 24u, v << 16u, v << 8u, v) >> vec4<u32>(24u));
}
