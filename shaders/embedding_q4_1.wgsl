// out[t, j] = w[ids[t], j] for a Q4_1 table w [vocab, k] (see q4_1.wgsl): a token embedding
// lookup, dequantized. Ids are checked on the host. One thread per output element, in 64-wide
// workgroups that wrap into y past 65535 of them.

struct Params {
    len: u32,
    k: u32,
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
    let j = i % p.k;
    let base = block_base(ids[i / p.k], j / 32u, p.k);
    let dm = block_scale(base);
    out[i] = f32(block_code(base, j % 32u)) * dm.x + dm.y;
}
