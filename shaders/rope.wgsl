// Rotary position embedding, out of place: x and out are [t, n_heads, head_dim], and token t
// sits at position pos0 + t. Pair i of each head (dims 2i and 2i + 1 when adjacent, i and
// i + head_dim / 2 when split in halves) turns by pos * inv_freq_i. One thread per pair.
// Angles are reduced in turns, not radians: freq[i] holds inv_freq_i / 2pi (turns per
// position) as f1 + f2 + f3, f1 and f2 with 12 significant bits, and pos splits into two 12-bit
// halves, so the products of halves with f1 and f2 are exact and dropping whole turns loses
// nothing (an f32 angle pos * inv_freq_i is already off by ~1e-4 radian at position 4000).
// Sin and cos are Taylor series on at most an eighth of a turn, not the builtins, which WebGPU
// allows to be off by 2^-11 (SwiftShader's are off by ~3e-5).

struct Params {
    pairs: u32, // t * n_heads * head_dim / 2
    half: u32, // head_dim / 2
    n_heads: u32,
    pos0: u32,
    split_half: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> freq: array<array<f32, 3>>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WORKGROUP_SIZE: u32 = 256u;
const TAU: f32 = 6.283185307179586;

// x less the nearest integer, in [-0.5, 0.5]; exact.
fn wrap(x: f32) -> f32 {
    return x - round(x);
}

// (sin, cos) of `turns` whole turns, for turns in [-0.5, 0.5]: the nearest quarter turn is
// taken out exactly, and the Taylor series to degree 9 and 10 on the remaining [-pi/4, pi/4]
// are truncated 2e-9 from the truth, well below f32 rounding.
fn sin_cos_turns(turns: f32) -> vec2<f32> {
    let quarter = round(turns * 4.0);
    let a = (turns - quarter * 0.25) * TAU;
    let a2 = a * a;
    let s = a * (1.0 + a2 * (-1.0 / 6.0 + a2 * (1.0 / 120.0 + a2 * (-1.0 / 5040.0 + a2 / 362880.0))));
    let c = 1.0 + a2 * (-0.5 + a2 * (1.0 / 24.0 + a2 * (-1.0 / 720.0 + a2 * (1.0 / 40320.0 - a2 / 3628800.0))));
    // Quarter turns q in -2..2; q & 3 counts them forwards (two's complement).
    let q = i32(quarter) & 3;
    var sc = vec2(s, c);
    if ((q & 1) != 0) {
        sc = vec2(c, -s); // a quarter turn on: sin(a + pi/2) = cos a, cos(a + pi/2) = -sin a
    }
    if ((q & 2) != 0) {
        sc = -sc; // half a turn on
    }
    return sc;
}

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * WORKGROUP_SIZE;
    if (idx >= p.pairs) {
        return;
    }
    let row = idx / p.half; // token * n_heads + head
    let i = idx % p.half;
    let pos = p.pos0 + row / p.n_heads; // below 2^24, checked by the host

    // high * f1, low * f1, high * f2 and low * f2 are exact products (12 by 12 bits), and
    // wrap is exact, so the only roundings are of sums below 1.5 turns and of pos * f3, which
    // is under 2^-22 of the whole angle.
    let f = freq[i];
    let high = f32(pos & 0xfff000u);
    let low = f32(pos & 0xfffu);
    var turns = wrap(high * f[0]) + wrap(low * f[0]);
    turns = wrap(turns) + wrap(high * f[1]);
    turns = wrap(turns) + low * f[1] + f32(pos) * f[2];
    let sc = sin_cos_turns(wrap(turns));

    var a = row * 2u * p.half + 2u * i;
    var b = a + 1u;
    if (p.split_half == 1u) {
        a = row * 2u * p.half + i;
        b = a + p.half;
    }
    let xa = x[a];
    let xb = x[b];
    out[a] = xa * sc.y - xb * sc.x;
    out[b] = xa * sc.x + xb * sc.y;
}
