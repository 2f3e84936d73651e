// One Adam step, as torch.optim.Adam (no weight decay, no amsgrad) takes it, on p.len parameters
// in place: with gradient g,
//   m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g^2,
//   param -= step_size * m / (sqrt(v) * inv_sqrt_bias2 + eps),
// where step_size = lr / (1 - beta1^t) and inv_sqrt_bias2 = 1 / sqrt(1 - beta2^t) are worked out
// on the CPU for step t. One thread per parameter, 64-wide workgroups wrapping into y.

struct Params {
    len: u32,
    beta1: f32,
    beta2: f32,
    step_size: f32,
    inv_sqrt_bias2: f32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

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
    let g = grad[i];
    let m_new = p.beta1 * m[i] + (1.0 - p.beta1) * g;
    let v_new = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
    m[i] = m_new;
    v[i] = v_new;
    param[i] -= p.step_size * m_new / (sqrt(v_new) * p.inv_sqrt_bias2 + p.eps);
}
