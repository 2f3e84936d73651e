// The second half of a decode step's attention split over the keys (attention.wgsl with
// p.segment): each of a head's workgroups there attended to one segment of the keys and left
// its running max m, its denominator l and its unnormalised output acc (relative to m) in
// `partials` [n_heads, segments, 2 + head_dim]. Here one workgroup per head rescales them to
// their common max and adds them: out = sum(exp(m_s - M) acc_s) / sum(exp(m_s - M) l_s).
// Thread lid owns output dims lid, lid + 64, ...

struct Params {
    head_dim: u32,
    segments: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wg.x;
    let stride = 2u + p.head_dim;
    let base = h * p.segments * stride;
    var max_m = partials[base];
    for (var s = 1u; s < p.segments; s++) {
        max_m = max(max_m, partials[base + s * stride]);
    }
    var total = 0.0;
    for (var s = 0u; s < p.segments; s++) {
        total += exp(partials[base + s * stride] - max_m) * partials[base + s * stride + 1u];
    }
    for (var d = lid; d < p.head_dim; d += 64u) {
        var acc = 0.0;
        for (var s = 0u; s < p.segments; s++) {
            let at = base + s * stride;
            acc += exp(partials[at] - max_m) * partials[at + 2u + d];
        }
        out[h * p.head_dim + d] = acc / total;
    }
}
