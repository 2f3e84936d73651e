// Rotary position embedding, out of place: x and out are [t, n_heads, head_dim], and token t
// sits at position pos0 + t. One thread per pair; the turns: rope_turn.wgsl, put in front.
// `qkv` takes a fused projection's rows of q, k and v heads ([t, q_heads + 2 kv_heads,
// head_dim]): it rotates q into out ([t, q_heads, head_dim]), rotates k into row pos0 + t of a
// KV cache's keys and copies v into its values ([capacity, kv_heads, head_dim] each).

struct Params {
    pairs: u32, // t * n_heads * head_dim / 2
    half: u32, // head_dim / 2
    n_heads: u32,
    pos0: u32,
    split_half: u32,
    q_heads: u32, // qkv only
    kv_heads: u32, // qkv only
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> freq: array<array<f32, 3>>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(5) var<storage, read_write> v_cache: array<f32>;

const WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * WORKGROUP_SIZE;
    if (idx >= p.pairs) {
        return;
    }
    let row = idx / p.half; // token * n_heads + head
    let i = idx % p.half;
    let at = row * 2u * p.half + pair_dims(i);
    let turned = turn(x[at.x], x[at.y], sin_cos_at(p.pos0 + row / p.n_heads, i));
    out[at.x] = turned.x;
    out[at.y] = turned.y;
}

@compute @workgroup_size(256, 1, 1)
fn qkv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * WORKGROUP_SIZE;
    if (idx >= p.pairs) {
        return;
    }
    let row = idx / p.half; // token * n_heads + head, n_heads = q_heads + 2 kv_heads
    let token = row / p.n_heads;
    let pair = idx % (p.n_heads * p.half);
    let source = row * 2u * p.half + pair_dims(idx % p.half);
    write_qkv_pair(token, pair, x[source.x], x[source.y]);
}
