// One step of a diffusion sampler on images in [-1, 1], element by element: from x_t and the
// model's v prediction to the predicted clean image x0 and the next, less noisy x_prev (DDIM;
// with p.sigma > 0 the ancestral sampler, noise given).
// x0 and noise hold p.len values. v, x and x_prev hold p.len values, or the batch twice
// (2 * p.len) when p.guided = 1: v the conditional pass, then the unconditional one, mixed as
// v_u + p.guidance * (v_c - v_u) (classifier-free guidance); x's second half is not read, and
// x_prev's is written as a copy of its first, so that x_prev is the next pass's input as it is.
// x0 = clamp(a x_t - s v, -1, 1); eps = (x_t - a x0) / s;
// x_prev = a_prev x0 + dir eps + sigma noise. One thread per element, in 64-wide workgroups
// that wrap into y past 65535 of them.

struct Params {
    len: u32,
    guided: u32,
    guidance: f32,
    a: f32,
    s: f32,
    a_prev: f32,
    dir: f32,
    sigma: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> v: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> noise: array<f32>;
@group(0) @binding(4) var<storage, read_write> x0: array<f32>;
@group(0) @binding(5) var<storage, read_write> x_prev: array<f32>;

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
    var pred = v[i];
    if (p.guided == 1u) {
        let unconditional = v[i + p.len];
        pred = unconditional + p.guidance * (pred - unconditional);
    }
    let clean = clamp(p.a * x[i] - p.s * pred, -1.0, 1.0);
    let eps = (x[i] - p.a * clean) / p.s;
    var next = p.a_prev * clean + p.dir * eps;
    if (p.sigma > 0.0) {
        next += p.sigma * noise[i];
    }
    x0[i] = clean;
    x_prev[i] = next;
    if (p.guided == 1u) {
        x_prev[i + p.len] = next;
    }
}
