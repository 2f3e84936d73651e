// Rotary position embedding's turns, shared by rope.wgsl and the quantized product's fused
// q, k, v projection (matmul_quant.wgsl). Pair i of a head (dims 2i and 2i + 1 when adjacent,
// i and i + head_dim / 2 when split in halves) turns by pos * inv_freq_i.
// Angles are reduced in turns, not radians: freq[i] holds inv_freq_i / 2pi (turns per
// position) as f1 + f2 + f3, f1 and f2 with 12 significant bits, and pos splits into two 12-bit
// halves, so the products of halves with f1 and f2 are exact and dropping whole turns loses
// nothing (an f32 angle pos * inv_freq_i is already off by ~1e-4 radian at position 4000).
// Sin and cos are Taylor series on at most an eighth of a turn, not the builtins, which WebGPU
// allows to be off by 2^-11 (SwiftShader's are off by ~3e-5).
// The kernel that uses it declares `p` with half (head_dim / 2), split_half, pos0, q_heads and
// kv_heads, and the bindings freq, out, k_cache and v_cache.

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

// (sin, cos) of pair i's angle at position pos (below 2^24, checked by the host).
fn sin_cos_at(pos: u32, i: u32) -> vec2<f32> {
    // high * f1, low * f1, high * f2 and low * f2 are exact products (12 by 12 bits), and
    // wrap is exact, so the only roundings are of sums below 1.5 turns and of pos * f3, which
    // is under 2^-22 of the whole angle.
    let f = freq[i];
    let high = f32(pos & 0xfff000u);
    let low = f32(pos & 0xfffu);
    var turns = wrap(high * f[0]) + wrap(low * f[0]);
    turns = wrap(turns) + wrap(high * f[1]);
    turns = wrap(turns) + low * f[1] + f32(pos) * f[2];
    return sin_cos_turns(wrap(turns));
}

// The offsets within a head of pair i's two dims.
fn pair_dims(i: u32) -> vec2<u32> {
    if (p.split_half == 1u) {
        return vec2(i, i + p.half);
    }
    return vec2(2u * i, 2u * i + 1u);
}

// (xa, xb) turned by the angle whose (sin, cos) is sc.
fn turn(xa: f32, xb: f32, sc: vec2<f32>) -> vec2<f32> {
    return vec2(xa * sc.y - xb * sc.x, xa * sc.x + xb * sc.y);
}

// Pair `pair` of token `token`'s fused projection row ([q_heads + 2 kv_heads] heads), whose
// dims hold xa and xb: a q head's turned into out ([t, q_heads, head_dim]), a k head's turned
// into row pos0 + token of the KV cache's keys, a v head's copied into its values
// ([capacity, kv_heads, head_dim] each).
fn write_qkv_pair(token: u32, pair: u32, xa: f32, xb: f32) {
    let head = pair / p.half;
    let i = pair % p.half;
    let pos = p.pos0 + token;
    let dims = pair_dims(i);
    if (head >= p.q_heads + p.kv_heads) {
        let dest = (pos * p.kv_heads + head - p.q_heads - p.kv_heads) * 2u * p.half + dims;
        v_cache[dest.x] = xa;
        v_cache[dest.y] = xb;
        return;
    }
    let turned = turn(xa, xb, sin_cos_at(pos, i));
    if (head < p.q_heads) {
        let dest = (token * p.q_heads + head) * 2u * p.half + dims;
        out[dest.x] = turned.x;
        out[dest.y] = turned.y;
    } else {
        let dest = (pos * p.kv_heads + head - p.q_heads) * 2u * p.half + dims;
        k_cache[dest.x] = turned.x;
        k_cache[dest.y] = turned.y;
    }
}
