// The k largest of a row of logits, largest first (ties: the smaller index first), and the logs
// of two sums over the whole row: exp(x - max) and exp((x - max) / temperature). That is all a
// sampler that keeps at most the k likeliest tokens needs, in 2k + 2 numbers instead of the row.
//
// One workgroup of REDUCE_THREADS threads per row of n: the maximum, the two sums, then k rounds,
// each of which finds the next element in the order (value descending, index ascending) after
// the last one found. out, per row: [values of the k][their indices, as f32][log sum at 1]
// [log sum at temperature].

struct Params {
    n: u32,
    k: u32,
    temperature: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const NONE: u32 = 0xffffffffu;

var<workgroup> best_value: array<f32, REDUCE_THREADS>;
var<workgroup> best_index: array<u32, REDUCE_THREADS>;

// Whether element (v, i) comes before (w, j) in the order; NONE (no element) comes last.
fn before(v: f32, i: u32, w: f32, j: u32) -> bool {
    if (i == NONE) {
        return false;
    }
    return j == NONE || v > w || (v == w && i < j);
}

@compute @workgroup_size(REDUCE_THREADS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let row = wg.x * p.n;
    let at = wg.x * (2u * p.k + 2u);
    var m = x[row];
    for (var i = li; i < p.n; i += REDUCE_THREADS) {
        m = max(m, x[row + i]);
    }
    m = workgroup_reduce(li, m, true);
    var sum = 0.0;
    var sum_t = 0.0;
    for (var i = li; i < p.n; i += REDUCE_THREADS) {
        let d = x[row + i] - m;
        sum += exp(d);
        if (p.temperature > 0.0) {
            sum_t += exp(d / p.temperature);
        }
    }
    sum = workgroup_reduce(li, sum, false);
    sum_t = workgroup_reduce(li, sum_t, false);

    var last_value = 0.0;
    var last_index = NONE; // none yet: every element comes after it
    for (var r = 0u; r < p.k; r++) {
        var value = 0.0;
        var index = NONE;
        for (var i = li; i < p.n; i += REDUCE_THREADS) {
            let v = x[row + i];
            let after = last_index == NONE || before(last_value, last_index, v, i);
            if (after && before(v, i, value, index)) {
                value = v;
                index = i;
            }
        }
        best_value[li] = value;
        best_index[li] = index;
        workgroupBarrier();
        for (var stride = REDUCE_THREADS / 2u; stride > 0u; stride /= 2u) {
            if (li < stride) {
                let other = li + stride;
                if (before(best_value[other], best_index[other], best_value[li], best_index[li])) {
                    best_value[li] = best_value[other];
                    best_index[li] = best_index[other];
                }
            }
            workgroupBarrier();
        }
        last_value = workgroupUniformLoad(&best_value[0]);
        last_index = workgroupUniformLoad(&best_index[0]);
        if (li == 0u) {
            out[at + r] = last_value;
            out[at + p.k + r] = f32(last_index);
        }
    }
    if (li == 0u) {
        out[at + 2u * p.k] = log(sum);
        out[at + 2u * p.k + 1u] = select(0.0, log(sum_t), p.temperature > 0.0);
    }
}
