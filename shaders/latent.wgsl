// The VAE's latent layer on mean, logvar, eps, z: [p.len] each (a batch of latent vectors).
// sample: the reparameterisation z = mean + eps * exp(logvar / 2), and the KL divergence of
//   N(mean, exp(logvar)) from N(0, I), -0.5 sum(1 + logvar - mean^2 - exp(logvar)), scaled by
//   p.scale (beta / batch), to out[0]; one 64-thread workgroup walks every element.
// backward: from z's gradient dz, the gradients of mean and logvar through z plus those of the
//   scaled KL term: d_mean = dz + scale mean, d_logvar = dz eps exp(logvar / 2) / 2 +
//   scale (exp(logvar) - 1) / 2. One thread per element, 64-wide workgroups wrapping into y.
// The two entry points bind different buffers at some of the same slots, on purpose: WGSL asks
// bindings to be unique per entry point, and each binds only its own.

struct Params {
    len: u32,
    scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> mean: array<f32>;
@group(0) @binding(2) var<storage, read> logvar: array<f32>;
@group(0) @binding(3) var<storage, read> eps: array<f32>;
@group(0) @binding(4) var<storage, read_write> z: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

@group(0) @binding(4) var<storage, read> dz: array<f32>;
@group(0) @binding(5) var<storage, read_write> d_mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> d_logvar: array<f32>;

const WORKGROUP_SIZE: u32 = 64u;

@compute @workgroup_size(REDUCE_THREADS)
fn sample(@builtin(local_invocation_index) li: u32) {
    var kl = 0.0;
    for (var i = li; i < p.len; i += REDUCE_THREADS) {
        let m = mean[i];
        let lv = logvar[i];
        z[i] = m + eps[i] * exp(0.5 * lv);
        kl += 1.0 + lv - m * m - exp(lv);
    }
    let total = workgroup_reduce(li, kl, false);
    if (li == 0u) {
        out[0] = -0.5 * p.scale * total;
    }
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
    let m = mean[i];
    let lv = logvar[i];
    d_mean[i] = dz[i] + p.scale * m;
    d_logvar[i] = 0.5 * dz[i] * eps[i] * exp(0.5 * lv) + 0.5 * p.scale * (exp(lv) - 1.0);
}
