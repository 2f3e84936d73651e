// Element-wise activations: out[i] = f(x[i]) over a flat array of p.len elements, f picked by
// p.op: 0 ReLU, 1 LeakyReLU(p.alpha), 2 GELU (erf), 3 GELU (tanh approximation), 4 SiLU, 5 tanh,
// 6 sigmoid; `backward` writes the gradient out[i] = dy[i] f'(x[i]) instead, and `glu` a gated
// linear unit over rows [gate, up] of 2 p.half: out[r, j] = f(gate[j]) up[j]. One thread per
// output element, in 64-wide workgroups that wrap into y past 65535 of them.

struct Params {
    len: u32,
    op: u32,
    alpha: f32,
    half: u32, // glu only
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;

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
    out[i] = activate(p.op, p.alpha, x[i]);
}

@compute @workgroup_size(64, 1, 1)
fn backward(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
    if (i >= p.len) {
        return;
    }
    out[i] = dy[i] * activate_grad(p.op, p.alpha, x[i]);
}

@compute @workgroup_size(64, 1, 1)
fn glu(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
    if (i >= p.len) {
        return;
    }
    let gate = (i / p.half) * 2u * p.half + i % p.half;
    out[i] = activate(p.op, p.alpha, x[gate]) * x[gate + p.half];
}
