// Batch norm in training mode, as nn.BatchNorm2d.train() runs it, and its backward pass. x is
// [p.batch, p.channels, p.spatial]; one 64-thread workgroup per channel (the grid wraps into y)
// reduces over the channel's n = batch * spatial elements.
//
// forward: the batch's mean and biased variance normalise x: out = (x - mean) * inv_std * gamma +
//   beta, inv_std = 1 / sqrt(var + eps). saved[c] = mean and saved[channels + c] = inv_std are
//   kept for the backward pass, and the running statistics move toward the batch's by
//   p.momentum, with the unbiased variance (var * n / (n - 1)), as PyTorch's do.
// backward: with xhat = (x - mean) * inv_std, dgamma = sum(dy * xhat), dbeta = sum(dy), and
//   dx = gamma * inv_std * (dy - dbeta / n - xhat * dgamma / n). p.grads 0 writes dgamma and
//   dbeta, 1 adds them to what they hold, 2 leaves them (only dx is wanted).
// The two entry points bind different buffers at the same slots, on purpose: WGSL asks bindings
// to be unique per entry point, and each binds only its own.

struct Params {
    batch: u32,
    channels: u32,
    spatial: u32,
    eps: f32,
    momentum: f32,
    grads: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> saved: array<f32>;
@group(0) @binding(6) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(7) var<storage, read_write> running_var: array<f32>;

@group(0) @binding(3) var<storage, read> saved_stats: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(7) var<storage, read_write> dbeta: array<f32>;

// The flat index of element j (of batch * spatial) of channel c.
fn at(c: u32, j: u32) -> u32 {
    return ((j / p.spatial) * p.channels + c) * p.spatial + j % p.spatial;
}

fn channel_of(wg: vec3<u32>, groups: vec3<u32>) -> u32 {
    return wg.x + wg.y * groups.x;
}

@compute @workgroup_size(REDUCE_THREADS)
fn forward(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let c = channel_of(wg, groups);
    if (c >= p.channels) {
        return;
    }
    let n = p.batch * p.spatial;
    // Statistics of x - pivot (the channel's first element), exact for a channel far from zero,
    // as norm.wgsl's row_statistics.
    let pivot = x[at(c, 0u)];
    var sum = 0.0;
    for (var j = li; j < n; j += REDUCE_THREADS) {
        sum += x[at(c, j)] - pivot;
    }
    let shift = workgroup_reduce(li, sum, false) / f32(n);
    var squares = 0.0;
    for (var j = li; j < n; j += REDUCE_THREADS) {
        let dev = x[at(c, j)] - pivot - shift;
        squares = fma(dev, dev, squares);
    }
    let var_biased = workgroup_reduce(li, squares, false) / f32(n);
    let inv_std = inverseSqrt(var_biased + p.eps);
    for (var j = li; j < n; j += REDUCE_THREADS) {
        let i = at(c, j);
        out[i] = (x[i] - pivot - shift) * inv_std * gamma[c] + beta[c];
    }
    if (li == 0u) {
        let mean = pivot + shift;
        saved[c] = mean;
        saved[p.channels + c] = inv_std;
        let unbiased = var_biased * f32(n) / f32(n - 1u);
        running_mean[c] = (1.0 - p.momentum) * running_mean[c] + p.momentum * mean;
        running_var[c] = (1.0 - p.momentum) * running_var[c] + p.momentum * unbiased;
    }
}

@compute @workgroup_size(REDUCE_THREADS)
fn backward(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let c = channel_of(wg, groups);
    if (c >= p.channels) {
        return;
    }
    let n = p.batch * p.spatial;
    let mean = saved_stats[c];
    let inv_std = saved_stats[p.channels + c];
    var sum_dy = 0.0;
    var sum_dy_xhat = 0.0;
    for (var j = li; j < n; j += REDUCE_THREADS) {
        let i = at(c, j);
        sum_dy += dy[i];
        sum_dy_xhat = fma(dy[i], (x[i] - mean) * inv_std, sum_dy_xhat);
    }
    let total_dy = workgroup_reduce(li, sum_dy, false);
    let total_dy_xhat = workgroup_reduce(li, sum_dy_xhat, false);
    let scale = gamma[c] * inv_std;
    for (var j = li; j < n; j += REDUCE_THREADS) {
        let i = at(c, j);
        let xhat = (x[i] - mean) * inv_std;
        out[i] = scale * (dy[i] - total_dy / f32(n) - xhat * total_dy_xhat / f32(n));
    }
    if (li == 0u && p.grads < 2u) {
        let add = p.grads == 1u;
        dgamma[c] = select(total_dy_xhat, dgamma[c] + total_dy_xhat, add);
        dbeta[c] = select(total_dy, dbeta[c] + total_dy, add);
    }
}
