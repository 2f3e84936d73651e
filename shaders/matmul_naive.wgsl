// The same product as matmul_tiled.wgsl, one thread per output element reading straight from
// global memory: the baseline the tiled kernel is measured against (`main`, 16 x 16 threads),
// and the kernel for a few rows (`rows`, 64 x 1 threads), such as one token's decode step,
// where a 128-row tile would compute mostly padding.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    a_batch_stride: u32,
    b_batch_stride: u32,
    b_transposed: u32,
    has_bias: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    product(id.y, id.x, id.z);
}

@compute @workgroup_size(64, 1, 1)
fn rows(@builtin(global_invocation_id) id: vec3<u32>) {
    product(id.y, id.x, id.z);
}

fn product(row: u32, col: u32, batch: u32) {
    if (row >= p.m || col >= p.n) {
        return;
    }
    let a_row = batch * p.a_batch_stride + row * p.k;
    let b_base = batch * p.b_batch_stride;
    var acc = 0.0;
    for (var k = 0u; k < p.k; k++) {
        var bv: f32;
        if (p.b_transposed == 1u) {
            bv = b[b_base + col * p.k + k];
        } else {
            bv = b[b_base + k * p.n + col];
        }
        acc = fma(a[a_row + k], bv, acc);
    }
    if (p.has_bias == 1u) {
        acc += bias[col];
    }
    c[(batch * p.m + row) * p.n + col] = acc;
}
