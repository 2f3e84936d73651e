// Softmax over the last dimension: x and out viewed as [p.rows, p.d], row-major.
// One 64-thread workgroup per row (the grid wraps into y past 65535 rows): the row's maximum,
// then the sum of exp(x - max), then exp(x - max) / sum. Subtracting the maximum keeps every
// exp in (0, 1], so no input overflows it.

struct Params {
    rows: u32,
    d: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(REDUCE_THREADS)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row = wg.x + wg.y * groups.x;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.d;
    // Threads past the end of a short row start from the row's first element, which is neutral
    // for the maximum.
    var m = x[base];
    for (var i = li; i < p.d; i += REDUCE_THREADS) {
        m = max(m, x[base + i]);
    }
    m = workgroup_reduce(li, m, true);
    var sum = 0.0;
    for (var i = li; i < p.d; i += REDUCE_THREADS) {
        sum += exp(x[base + i] - m);
    }
    let inv_sum = 1.0 / workgroup_reduce(li, sum, false);
    for (var i = li; i < p.d; i += REDUCE_THREADS) {
        out[base + i] = exp(x[base + i] - m) * inv_sum;
    }
}
