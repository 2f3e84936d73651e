// Normalisations, all on row-major f32 arrays.
// row_norm: x viewed as [p.rows, p.d]; one 64-thread workgroup per row (the grid wraps into y
//   past 65535 rows). p.center = 1 is layer norm: (x - mean) / sqrt(var + eps) * gamma + beta,
//   biased variance; p.center = 0 is RMS norm: x / sqrt(mean(x^2) + eps) * gamma (beta unread).
// group_norm: nn.GroupNorm on x [N, C, spatial] seen as p.rows = N * groups rows of
//   p.d = (C / groups) * spatial elements (one workgroup each, as row_norm); element i of row r
//   is channel (r % groups) * cpg + i / p.spatial, with cpg = p.d / p.spatial channels per group
//   and groups = p.channels / cpg. p.act > 0 then applies act.wgsl's activation p.act - 1
//   (slope p.alpha).
// batch_norm: inference with running statistics; x is [N, C, spatial] seen as p.rows = N * C
//   planes of p.d = spatial elements, channel = plane % p.channels; one thread per element in
//   64-wide workgroups. Its extra bindings come after `out` so both entry points share one layout.

struct Params {
    rows: u32,
    d: u32,
    channels: u32,
    center: u32,
    eps: f32,
    spatial: u32,
    act: u32,
    alpha: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read> running_mean: array<f32>;
@group(0) @binding(6) var<storage, read> running_var: array<f32>;

const ELEMENT_THREADS: u32 = 64u;

// What normalises the row of p.d elements at `base`: y = (x - pivot - mean) * inv_std, returned
// as (pivot, mean, inv_std). With `center` (layer and group norm) the statistics are those of
// x - pivot, the row's first element: for a row far from zero that difference is exact, so the
// mean (of small numbers) and the deviations keep every digit that an offset such as 1000 + x
// would otherwise take from them. Without it (RMS norm) pivot and mean are 0.
fn row_statistics(base: u32, li: u32, center: bool) -> vec3<f32> {
    var pivot = 0.0;
    var mean = 0.0;
    if (center) {
        pivot = x[base];
        var sum = 0.0;
        for (var i = li; i < p.d; i += REDUCE_THREADS) {
            sum += x[base + i] - pivot;
        }
        mean = workgroup_reduce(li, sum, false) / f32(p.d);
    }
    var squares = 0.0;
    for (var i = li; i < p.d; i += REDUCE_THREADS) {
        let dev = x[base + i] - pivot - mean;
        squares = fma(dev, dev, squares);
    }
    return vec3(pivot, mean, inverseSqrt(workgroup_reduce(li, squares, false) / f32(p.d) + p.eps));
}

@compute @workgroup_size(REDUCE_THREADS)
fn row_norm(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row = wg.x + wg.y * groups.x;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.d;
    let s = row_statistics(base, li, p.center == 1u);
    for (var i = li; i < p.d; i += REDUCE_THREADS) {
        var y = (x[base + i] - s.x - s.y) * s.z * gamma[i];
        if (p.center == 1u) {
            y += beta[i];
        }
        out[base + i] = y;
    }
}

@compute @workgroup_size(REDUCE_THREADS)
fn group_norm(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row = wg.x + wg.y * groups.x;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.d;
    let s = row_statistics(base, li, true);
    let per_group = p.d / p.spatial;
    let first = (row % (p.channels / per_group)) * per_group;
    for (var i = li; i < p.d; i += REDUCE_THREADS) {
        let c = first + i / p.spatial;
        var y = (x[base + i] - s.x - s.y) * s.z * gamma[c] + beta[c];
        if (p.act > 0u) {
            y = activate(p.act - 1u, p.alpha, y);
        }
        out[base + i] = y;
    }
}

@compute @workgroup_size(64, 1, 1)
fn batch_norm(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.x + gid.y * groups.x * ELEMENT_THREADS;
    if (i >= p.rows * p.d) {
        return;
    }
    let c = (i / p.d) % p.channels;
    let inv_std = inverseSqrt(running_var[c] + p.eps);
    out[i] = (x[i] - running_mean[c]) * inv_std * gamma[c] + beta[c];
}
