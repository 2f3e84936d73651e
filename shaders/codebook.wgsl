// A VQ-VAE's codebook [k, d] against channel-first maps [n, d, h, w] (p.hw = h w positions per
// image, p.positions = n h w in all).
// nearest: codes[n, h, w] = the index of the codebook row nearest to the map's d values at
//   (n, h, w), by the summed squared differences (not |a|^2 - 2ab + |b|^2, which cancels), the
//   lower index on a tie; as f32, which holds every index below 2^24. One thread per position.
// lookup: out[n, :, h, w] = codebook[ids[n h w + h w]]: the map the decoder reads. One thread
//   per output element.
// Both run 64-wide workgroups that wrap into y. The entry points bind different buffers at
// slots 2 and 3, on purpose: each binds only its own.

struct Params {
    positions: u32,
    hw: u32,
    d: u32,
    k: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> codebook: array<f32>;
@group(0) @binding(2) var<storage, read> map: array<f32>;
@group(0) @binding(3) var<storage, read_write> codes: array<f32>;

@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WORKGROUP_SIZE: u32 = 64u;

fn index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * WORKGROUP_SIZE;
}

@compute @workgroup_size(64, 1, 1)
fn nearest(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if (i >= p.positions) {
        return;
    }
    let at = (i / p.hw) * p.d * p.hw + i % p.hw;
    var best = 0u;
    var best_distance = 0.0;
    for (var c = 0u; c < p.k; c++) {
        var distance = 0.0;
        for (var j = 0u; j < p.d; j++) {
            let diff = map[at + j * p.hw] - codebook[c * p.d + j];
            distance += diff * diff;
        }
        if (c == 0u || distance < best_distance) {
            best = c;
            best_distance = distance;
        }
    }
    codes[i] = f32(best);
}

@compute @workgroup_size(64, 1, 1)
fn lookup(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if (i >= p.positions * p.d) {
        return;
    }
    let per_image = p.d * p.hw;
    let position = (i / per_image) * p.hw + i % p.hw;
    let j = (i % per_image) / p.hw;
    out[i] = codebook[ids[position] * p.d + j];
}
