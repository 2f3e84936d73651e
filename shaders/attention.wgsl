// Causal scaled-dot-product attention over a KV cache, with grouped-query heads.
// q and out are [t, n_heads, head_dim]: the t newest tokens, at positions past..past+t.
// k and v are [capacity, n_kv_heads, head_dim] with rows 0..past+t filled; query head h reads
// kv head h / group. Query i sees keys 0..=past+i. When score_rows is not 0, scores
// [n_heads, score_rows, capacity] receives the raw scaled scores q.k * scale of the last
// score_rows queries over every cache row, 0 for the rows they cannot see (future or unfilled):
// one shape for any past, so its buffer is reused. (The softmax weights follow from them; the
// page shows both.)
// One workgroup per (head, query). Keys are walked in chunks with an online softmax (running
// max and denominator, accumulators rescaled when the max grows), so any context length fits
// in workgroup memory; thread lid owns output dims lid, lid + 64, ...
// With p.segment (one query over many keys: a decode step late in a long context), workgroup
// (h, s) takes keys s * segment.. of the query instead, and leaves its max, denominator and
// unnormalised output in `partials` [n_heads, segments, 2 + head_dim] for
// attention_combine.wgsl: a head's work then spreads over many workgroups, not one.

struct Params {
    t: u32,
    past: u32,
    n_heads: u32,
    n_kv_heads: u32,
    head_dim: u32,
    group: u32, // n_heads / n_kv_heads
    scale: f32,
    score_rows: u32,
    capacity: u32,
    segment: u32, // keys per workgroup; 0: all of the query's
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> scores: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;

const CHUNK: u32 = 256u;
const MAX_HEAD_DIM: u32 = 256u;
const PER_THREAD: u32 = 4u; // CHUNK / REDUCE_THREADS keys, MAX_HEAD_DIM / REDUCE_THREADS dims
const NEG_BIG: f32 = -3.0e38; // below every score; WGSL has no infinity literal

var<workgroup> q_scaled: array<f32, MAX_HEAD_DIM>;
var<workgroup> probs: array<f32, CHUNK>;

// The scaled score of the query against cached key `key`.
fn score(key: u32, kv_offset: u32) -> f32 {
    let base = key * p.n_kv_heads * p.head_dim + kv_offset;
    var s = 0.0;
    for (var d = 0u; d < p.head_dim; d++) {
        s = fma(q_scaled[d], k[base + d], s);
    }
    return s;
}

@compute @workgroup_size(REDUCE_THREADS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wg.x;
    let split = p.segment != 0u;
    let i = select(wg.y, 0u, split);
    let n_keys = p.past + i + 1u;
    // This workgroup's keys: first..end.
    let first = select(0u, wg.y * p.segment, split);
    let end = select(n_keys, min(n_keys, first + p.segment), split);
    let kv_offset = (h / p.group) * p.head_dim;
    let q_base = (i * p.n_heads + h) * p.head_dim;
    for (var d = lid; d < p.head_dim; d += REDUCE_THREADS) {
        q_scaled[d] = q[q_base + d] * p.scale;
    }
    workgroupBarrier();

    var m = NEG_BIG; // running max of the scores, the same in every thread
    var l = 0.0; // this thread's share of the denominator, relative to m
    var acc: array<f32, PER_THREAD>; // output dims lid + r * REDUCE_THREADS, relative to m
    for (var c0 = first; c0 < end; c0 += CHUNK) {
        let len = min(CHUNK, end - c0);
        var s: array<f32, PER_THREAD>;
        var chunk_max = NEG_BIG;
        for (var r = 0u; r < PER_THREAD; r++) {
            let j = lid + r * REDUCE_THREADS;
            if (j < len) {
                s[r] = score(c0 + j, kv_offset);
                chunk_max = max(chunk_max, s[r]);
            }
        }
        let m_new = max(m, workgroup_reduce(lid, chunk_max, true));
        let alpha = exp(m - m_new); // 0 on the first chunk, where nothing has accumulated
        l *= alpha;
        for (var r = 0u; r < PER_THREAD; r++) {
            let j = lid + r * REDUCE_THREADS;
            if (j < len) {
                let e = exp(s[r] - m_new);
                probs[j] = e;
                l += e;
            }
            acc[r] *= alpha;
        }
        workgroupBarrier();
        for (var j = 0u; j < len; j++) {
            let pj = probs[j];
            let row = (c0 + j) * p.n_kv_heads * p.head_dim + kv_offset;
            for (var r = 0u; r < PER_THREAD; r++) {
                let d = lid + r * REDUCE_THREADS;
                if (d < p.head_dim) {
                    acc[r] = fma(pj, v[row + d], acc[r]);
                }
            }
        }
        workgroupBarrier();
        m = m_new;
    }

    let total = workgroup_reduce(lid, l, false);
    let segments = (n_keys + p.segment - 1u) / max(p.segment, 1u);
    let at = (h * segments + wg.y) * (2u + p.head_dim);
    if (split && lid == 0u) {
        partials[at] = m;
        partials[at + 1u] = total;
    }
    for (var r = 0u; r < PER_THREAD; r++) {
        let d = lid + r * REDUCE_THREADS;
        if (d < p.head_dim) {
            if (split) {
                partials[at + 2u + d] = acc[r];
            } else {
                out[q_base + d] = acc[r] / total;
            }
        }
    }
    if (i + p.score_rows >= p.t) {
        // The workgroup with the last keys also writes the 0s past them.
        let score_end = select(end, p.capacity, end == n_keys);
        let s_base = (h * p.score_rows + i + p.score_rows - p.t) * p.capacity;
        for (var j = first + lid; j < score_end; j += REDUCE_THREADS) {
            var s = 0.0;
            if (j < n_keys) {
                s = score(j, kv_offset);
            }
            scores[s_base + j] = s;
        }
    }
}
