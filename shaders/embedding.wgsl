// Embedding lookup: out[t, j] = table[ids[t], j] for a table [V, p.d] and out [len(ids), p.d],
// row-major, plus, with p.add_positions, the position embedding positions[p.past + t, j] (GPT-2's
// wpe). Ids and positions are checked on the host. One thread per output element, in 64-wide
// workgroups that wrap into y past 65535 of them.

struct Params {
    len: u32,
    d: u32,
    add_positions: u32,
    past: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> positions: array<f32>;

const WORKGROUP_SIZE: u32 = 64u;

@compute @workgroup_size(64, 1, 1)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
    if (i >= p.len) {
        return;
    }
    var v = table[ids[i / p.d] * p.d + i % p.d];
    if (p.add_positions == 1u) {
        v += positions[p.past * p.d + i];
    }
    out[i] = v;
}
