// Rows of a quantized matrix w [n, k], dequantized into out: the rows `ids` names (a token
// embedding lookup, out[t, j] = w[ids[t], j]), or with all_rows set the whole matrix in order
// (for a pass over many tokens, which then multiplies by it with the tiled f32 matmul).
// Prefixed with the block format's functions (q4_1.wgsl or q8_0.wgsl). Ids are checked on the
// host. One thread per output element, in 64-wide workgroups that wrap into y past 65535 of them.

struct Params {
    len: u32,
    n: u32, // rows of w (an embedding's vocabulary)
    k: u32,
    all_rows: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i >= p.len) {
        return;
    }
    var row = i / p.k;
    if (p.all_rows == 0u) {
        row = ids[row];
    }
    let j = i % p.k;
    let blocks = p.k / 32u;
    let dm = block_scale(p.n, blocks, row, j / 32u);
    out[i] = fma(block_codes(p.n, blocks, row, j / 32u, (j % 32u) / 4u)[j % 4u], dm.x, dm.y);
}
